"""Scores entered per unit for the Circular 01/2018 indices 5, 6, 8 and 9; the 0–2 criterion scale of dossier
questionnaire version 1 counts 1–2 as met, as analysis.scales defines it.

Revision ID: onestop2_0001
Revises: onestop_0001
Create Date: 2026-11-23 18:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'onestop2_0001'
down_revision = 'onestop_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('unit_index_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('index_number', sa.SmallInteger(), nullable=False),
    sa.Column('points', sa.SmallInteger(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('source_note', sa.String(length=500), nullable=True),
    sa.Column('entered_by_id', sa.Integer(), nullable=True),
    sa.Column('entered_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['entered_by_id'], ['users.id'], name=op.f('fk_unit_index_scores_entered_by_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_index_scores_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_index_scores')),
    sa.UniqueConstraint('unit_id', 'index_number', 'valid_from',
                        name=op.f('uq_unit_index_scores_unit_id_index_number_valid_from'))
    )
    with op.batch_alter_table('unit_index_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_index_scores_unit_id'), ['unit_id'], unique=False)
    # One source for each scale's "satisfied" level (analysis/scales.py): 1 point or more is met.
    op.execute(sa.text("UPDATE scales SET satisfied_from = 1 WHERE code = 'criterion-0-2'"))


def downgrade():
    op.execute(sa.text("UPDATE scales SET satisfied_from = 2 WHERE code = 'criterion-0-2'"))
    with op.batch_alter_table('unit_index_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_index_scores_unit_id'))
    op.drop_table('unit_index_scores')
