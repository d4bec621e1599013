"""Complaint cases: one per negative rating with a comment; reviews of misuse flags.

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

    op.create_table('flag_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rating_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('flag', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['rating_id'], ['ratings.id'], name=op.f('fk_flag_reviews_rating_id_ratings')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_flag_reviews_reviewer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flag_reviews'))
    )
    with op.batch_alter_table('flag_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flag_reviews_rating_id'), ['rating_id'], unique=False)


def downgrade():
    with op.batch_alter_table('flag_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flag_reviews_rating_id'))
    op.drop_table('flag_reviews')
    with op.batch_alter_table('complaint_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_cases_office_id'))
    op.drop_table('complaint_cases')
