"""Kiosk health: last contact, taps still queued on the tablet, measured clock skew.

Revision ID: offline_0001
Revises: totp_0001
Create Date: 2026-11-23 21:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'offline_0001'
down_revision = 'totp_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('kiosks') as batch_op:
        batch_op.add_column(sa.Column('last_contact_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('queued_taps', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('clock_skew_seconds', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('kiosks') as batch_op:
        batch_op.drop_column('clock_skew_seconds')
        batch_op.drop_column('queued_taps')
        batch_op.drop_column('last_contact_at')
