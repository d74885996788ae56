"""Imports (progress, reconciliation, rejections) and the canonical de-identified source text.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:35:08.466200
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('interview', 'focus-group', 'usability', 'ticket', 'survey', 'observation', name='source_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('content_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('running', 'interrupted', 'done', name='import_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('records_total', sa.Integer(), nullable=False),
    sa.Column('records_read', sa.Integer(), nullable=False),
    sa.Column('records_stored', sa.Integer(), nullable=False),
    sa.Column('records_rejected', sa.Integer(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('owner', sa.String(length=120), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('records_read = records_stored + records_rejected', name=op.f('ck_import_run_reconciled')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_import_run_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], name=op.f('fk_import_run_job_id_job'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_import_run_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_run')),
    sa.UniqueConstraint('study_id', 'content_key', name=op.f('uq_import_run_study_id_content_key'))
    )
    with op.batch_alter_table('import_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_run_study_id'), ['study_id'], unique=False)

    op.create_table('import_rejection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('record_number', sa.Integer(), nullable=False),
    sa.Column('location', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['import_run.id'], name=op.f('fk_import_rejection_import_id_import_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_rejection')),
    sa.UniqueConstraint('import_id', 'record_number', name=op.f('uq_import_rejection_import_id_record_number'))
    )
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('format', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('import_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('record_number', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_source_import_id'), ['import_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_source_import_id_import_run'), 'import_run', ['import_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_source_import_id_import_run'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_source_import_id'))
        batch_op.drop_column('record_number')
        batch_op.drop_column('import_id')
        batch_op.drop_column('format')
        batch_op.drop_column('text')

    op.drop_table('import_rejection')
    with op.batch_alter_table('import_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_run_study_id'))

    op.drop_table('import_run')
