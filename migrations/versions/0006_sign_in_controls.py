"""Sign-in controls: account lockout, idle sessions, the client address of audit events; study
names unique per reader instead of globally (a refused name confirmed a hidden study).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(), nullable=True))
    # audit_event is append-only by trigger; adding a nullable column does not touch its rows.
    op.add_column('audit_event', sa.Column('client', sa.String(length=64), nullable=True))
    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_constraint('uq_study_name', type_='unique')
        batch_op.create_index(batch_op.f('ix_study_name'), ['name'], unique=False)


def downgrade() -> None:
    # Fails if two studies now share a name: rename one first.
    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_name'))
        batch_op.create_unique_constraint('uq_study_name', ['name'])
    op.drop_column('audit_event', 'client')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
