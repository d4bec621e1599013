"""What went wrong: one-tap reasons per negative rating, and each office's complaint channel.

Revision ID: citizen_0001
Revises: scale_0001
Create Date: 2026-11-23 18:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'citizen_0001'
down_revision = 'scale_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('complaint_contact', sa.String(length=300), nullable=True))

    op.create_table('rating_reasons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['rating_id'], ['ratings.id'], name=op.f('fk_rating_reasons_rating_id_ratings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_reasons')),
    sa.UniqueConstraint('rating_id', 'reason', name=op.f('uq_rating_reasons_rating_id_reason'))
    )
    with op.batch_alter_table('rating_reasons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_reasons_rating_id'), ['rating_id'], unique=False)


def downgrade():
    with op.batch_alter_table('rating_reasons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_reasons_rating_id'))

    op.drop_table('rating_reasons')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_column('complaint_contact')
