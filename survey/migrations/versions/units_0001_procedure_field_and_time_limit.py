"""Procedures: the catalogue's field (lĩnh vực) and the legal time limit in days.

Revision ID: units_0001
Revises: apikeys_0001
Create Date: 2026-11-23 21:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'units_0001'
down_revision = 'apikeys_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('field', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('time_limit_days', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.drop_column('time_limit_days')
        batch_op.drop_column('field')
