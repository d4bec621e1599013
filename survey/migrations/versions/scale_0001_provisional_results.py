"""The open period's provisional results, computed by the periodic job.

Revision ID: scale_0001
Revises: onestop2_0001
Create Date: 2026-11-23 18:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'scale_0001'
down_revision = 'onestop2_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('provisional_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('questionnaire', sa.String(length=64), nullable=False),
    sa.Column('options_hash', sa.String(length=64), nullable=False),
    sa.Column('data_version', sa.String(length=64), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('content_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisional_results')),
    sa.UniqueConstraint('period', 'level', 'questionnaire', 'options_hash',
                        name=op.f('uq_provisional_results_period_level_questionnaire_options_hash'))
    )


def downgrade():
    op.drop_table('provisional_results')
