"""Scale labels up to 300 characters: Circular 01/2018/TT-VPCP words some point levels at length (index 7).

Revision ID: c01_0001
Revises: langs_0001
Create Date: 2026-11-24 02:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c01_0001'
down_revision = 'langs_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scale_points', schema=None) as batch_op:
        batch_op.alter_column('label_vi', existing_type=sa.String(100), type_=sa.String(300), existing_nullable=False)
        batch_op.alter_column('label_en', existing_type=sa.String(100), type_=sa.String(300), existing_nullable=True)


def downgrade():
    with op.batch_alter_table('scale_points', schema=None) as batch_op:
        batch_op.alter_column('label_en', existing_type=sa.String(300), type_=sa.String(100), existing_nullable=True)
        batch_op.alter_column('label_vi', existing_type=sa.String(300), type_=sa.String(100), existing_nullable=False)
