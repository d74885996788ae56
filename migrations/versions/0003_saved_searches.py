"""Saved searches: a user's query, filters, dates and sort, by name.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:22:45.235660
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('saved_search',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_saved_search_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_search')),
    sa.UniqueConstraint('user_id', 'name', name=op.f('uq_saved_search_user_id_name'))
    )
    with op.batch_alter_table('saved_search', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_search_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('saved_search', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_search_user_id'))

    op.drop_table('saved_search')
