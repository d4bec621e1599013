"""API keys: the time of their last use; transactions indexed by the key that registered them; the
CSV files of transactions administrators upload, with their import's progress.

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
    op.create_table('transaction_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('scope_unit_id', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('refused_lines', sa.Text(), nullable=True),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['scope_unit_id'], ['units.id'], name=op.f('fk_transaction_imports_scope_unit_id_units')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'],
                            name=op.f('fk_transaction_imports_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transaction_imports'))
    )
    op.create_index(op.f('ix_transaction_imports_scope_unit_id'), 'transaction_imports', ['scope_unit_id'],
                    unique=False)


def downgrade():
    op.drop_index(op.f('ix_transaction_imports_scope_unit_id'), table_name='transaction_imports')
    op.drop_table('transaction_imports')
    op.drop_index('ix_transactions_api_key_created', table_name='transactions')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')
