"""API keys scoped to units, and the transactions (dossiers) one-stop systems register.

Revision ID: onestop_0001
Revises: publish_0001
Create Date: 2026-11-23 18:01:12.706713

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'onestop_0001'
down_revision = 'publish_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('key_start', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('api_key_units',
    sa.Column('api_key_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_api_key_units_api_key_id_api_keys')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_api_key_units_unit_id_units')),
    sa.PrimaryKeyConstraint('api_key_id', 'unit_id', name=op.f('pk_api_key_units'))
    )
    op.create_table('transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_code', sa.String(length=40), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('counter_id', sa.Integer(), nullable=True),
    sa.Column('procedure_code', sa.String(length=64), nullable=False),
    sa.Column('procedure_id', sa.Integer(), nullable=True),
    sa.Column('officer_code', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('returned_at', sa.DateTime(), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_transactions_api_key_id_api_keys')),
    sa.ForeignKeyConstraint(['counter_id'], ['units.id'], name=op.f('fk_transactions_counter_id_units')),
    sa.ForeignKeyConstraint(['office_id'], ['units.id'], name=op.f('fk_transactions_office_id_units')),
    sa.ForeignKeyConstraint(['procedure_id'], ['procedures.id'], name=op.f('fk_transactions_procedure_id_procedures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('dossier_code', name=op.f('uq_transactions_dossier_code'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_office_received', ['office_id', 'received_at'], unique=False)



def downgrade():
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_office_received')

    op.drop_table('transactions')
    op.drop_table('api_key_units')
    op.drop_table('api_keys')
