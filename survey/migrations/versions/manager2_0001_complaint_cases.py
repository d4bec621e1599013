"""Complaint cases: one per negative rating with a comment.

Revision ID: manager2_0001
Revises: manager_0001
Create Date: 2026-11-23 19:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'manager2_0001'
down_revision = 'manager_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('complaint_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answer_text', sa.Text(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'],
                            name=op.f('fk_complaint_cases_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_complaint_cases_answered_by_id_users')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_complaint_cases_closed_by_id_users')),
    sa.ForeignKeyConstraint(['office_id'], ['units.id'], name=op.f('fk_complaint_cases_office_id_units')),
    sa.ForeignKeyConstraint(['rating_id'], ['ratings.id'], name=op.f('fk_complaint_cases_rating_id_ratings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_cases')),
    sa.UniqueConstraint('rating_id', name=op.f('uq_complaint_cases_rating_id'))
    )
    with op.batch_alter_table('complaint_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_cases_office_id'), ['office_id'], unique=False)


def downgrade():
    with op.batch_alter_table('complaint_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_cases_office_id'))
    op.drop_table('complaint_cases')
