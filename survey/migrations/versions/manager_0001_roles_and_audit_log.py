"""Roles bound to a unit (``manager`` becomes ``office-manager``, ``admin`` becomes ``national-admin``),
and the audit log.

Revision ID: manager_0001
Revises: citizen_0001
Create Date: 2026-11-23 18:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'manager_0001'
down_revision = 'citizen_0001'
branch_labels = None
depends_on = None

users = sa.table('users', sa.column('role', sa.String(16)))
RENAMES = {'manager': 'office-manager', 'admin': 'national-admin'}


def upgrade():
    for old, new in RENAMES.items():
        op.execute(users.update().where(users.c.role == old).values(role=new))

    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_entries_actor_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_audit_entries_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_unit_id'), ['unit_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_unit_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entries_created_at'))
    op.drop_table('audit_entries')
    for old, new in RENAMES.items():
        op.execute(users.update().where(users.c.role == new).values(role=old))
