"""API keys: the time of their last use; transactions indexed by the key that registered them.

Revision ID: apikeys_0001
Revises: manager2_0001
Create Date: 2026-11-23 21:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'apikeys_0001'
down_revision = 'manager2_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('api_keys', sa.Column('last_used_at', sa.DateTime(), nullable=True))
    op.create_index('ix_transactions_api_key_created', 'transactions', ['api_key_id', 'created_at'], unique=False)


def downgrade():
    op.drop_index('ix_transactions_api_key_created', table_name='transactions')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
