"""Index outbox rows say whether bulk work wrote them (an import, a theme run, placement), so
the index writer drains what people are waiting for first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('index_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bulk', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_index_outbox_bulk_id', ['bulk', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('index_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_index_outbox_bulk_id')
        batch_op.drop_column('bulk')
