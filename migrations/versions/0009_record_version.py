"""An imported record's version (a keyed hash of its content) beside its id's key, so a
re-import replaces a record edited since.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:25:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_version', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_column('record_version')
