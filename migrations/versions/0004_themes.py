"""Themes: stored passage vectors and their vectorizer, theme centroids, pins and quotes,
per-passage similarity, run bookkeeping, and an undoable log of review actions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:42:21.576460
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vector_model',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('fitted_on', sa.Integer(), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vector_model'))
    )
    op.create_table('theme_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_theme_action_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['theme_run.id'], name=op.f('fk_theme_action_run_id_theme_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_theme_action'))
    )
    with op.batch_alter_table('theme_action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_action_run_id'), ['run_id'], unique=False)

    op.create_table('passage_vector',
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['vector_model.id'], name=op.f('fk_passage_vector_model_id_vector_model'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_passage_vector_passage_id_passage'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('passage_id', 'model_id', name=op.f('pk_passage_vector'))
    )
    with op.batch_alter_table('passage_vector', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passage_vector_model_id'), ['model_id'], unique=False)

    # Vectors move to passage_vector (one per vectorizer); the column was never written.
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.drop_column('vector')

    with op.batch_alter_table('theme', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pinned', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('quotes', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('centroid', sa.LargeBinary(), nullable=True))

    with op.batch_alter_table('theme_passage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('similarity', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('themed', sa.Boolean(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table('theme_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vector_model_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('passage_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('changed_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('started_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_theme_run_vector_model_id_vector_model'), 'vector_model', ['vector_model_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('theme_run', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_theme_run_vector_model_id_vector_model'), type_='foreignkey')
        batch_op.drop_column('error')
        batch_op.drop_column('finished_at')
        batch_op.drop_column('started_at')
        batch_op.drop_column('changed_count')
        batch_op.drop_column('passage_count')
        batch_op.drop_column('vector_model_id')

    with op.batch_alter_table('theme_passage', schema=None) as batch_op:
        batch_op.drop_column('themed')
        batch_op.drop_column('similarity')

    with op.batch_alter_table('theme', schema=None) as batch_op:
        batch_op.drop_column('centroid')
        batch_op.drop_column('quotes')
        batch_op.drop_column('pinned')

    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vector', sa.LargeBinary(), nullable=True))

    with op.batch_alter_table('passage_vector', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passage_vector_model_id'))

    op.drop_table('passage_vector')
    with op.batch_alter_table('theme_action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_action_run_id'))

    op.drop_table('theme_action')
    op.drop_table('vector_model')
