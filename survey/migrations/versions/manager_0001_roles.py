"""Roles bound to a unit: ``manager`` becomes ``office-manager``, ``admin`` becomes ``national-admin``.

Revision ID: manager_0001
Revises: publish_0001
Create Date: 2026-11-23 18:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'manager_0001'
down_revision = 'publish_0001'
branch_labels = None
depends_on = None

users = sa.table('users', sa.column('role', sa.String(16)))
RENAMES = {'manager': 'office-manager', 'admin': 'national-admin'}


def upgrade():
    for old, new in RENAMES.items():
        op.execute(users.update().where(users.c.role == old).values(role=new))


def downgrade():
    for old, new in RENAMES.items():
        op.execute(users.update().where(users.c.role == new).values(role=old))
