"""A study's de-identification terms: its participants' names as keyed hashes (the roster)
and the terms it never redacts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'study_term',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('study_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=True),
        sa.Column('value', sa.String(length=120), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('roster', 'keep')", name=op.f('ck_study_term_kind')),
        sa.CheckConstraint("(kind = 'roster') = (digest IS NOT NULL AND value IS NULL)",
                           name=op.f('ck_study_term_roster_is_hashed')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_study_term_created_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_study_term_study_id_study'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_study_term')),
        sa.UniqueConstraint('study_id', 'kind', 'digest', name='uq_study_term_digest'),
        sa.UniqueConstraint('study_id', 'kind', 'value', name='uq_study_term_value'),
    )
    with op.batch_alter_table('study_term', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_term_study_id'), ['study_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('study_term', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_term_study_id'))
    op.drop_table('study_term')
