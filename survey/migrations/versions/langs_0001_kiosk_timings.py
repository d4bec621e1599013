"""Per-kiosk timings: confirmation, idle, warning and thank-you seconds (NULL: the config default).

Revision ID: langs_0001
Revises: alerts_0001
Create Date: 2026-11-23 22:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'langs_0001'
down_revision = 'alerts_0001'
branch_labels = None
depends_on = None

COLUMNS = ('confirm_seconds', 'idle_seconds', 'warning_seconds', 'thanks_seconds')


def upgrade():
    with op.batch_alter_table('kiosks', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.SmallInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('kiosks', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
