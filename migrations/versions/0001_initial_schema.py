"""Initial schema: the whole domain model, plus the append-only audit triggers.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:34:00.447519
"""
from alembic import op
import sqlalchemy as sa

# Frozen copies of the triggers in research_repo.models.ops: a revision never changes
# after release, even when the model module does.
_AUDIT_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$",
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    ],
}
_DROP_AUDIT_TRIGGERS = {
    "sqlite": ["DROP TRIGGER IF EXISTS audit_event_no_update", "DROP TRIGGER IF EXISTS audit_event_no_delete"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
        "DROP FUNCTION IF EXISTS audit_event_append_only()",
    ],
}


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('object_type', sa.String(length=40), nullable=True),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_event_study_id_at', ['study_id', 'at'], unique=False)
    for statement in _AUDIT_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)

    op.create_table('index_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('op', sa.Enum('upsert', 'delete', name='outbox_op', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_outbox'))
    )
    with op.batch_alter_table('index_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_index_outbox_passage_id'), ['passage_id'], unique=False)

    op.create_table('learning_agenda_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency', sa.String(length=40), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('strategic_goal', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_learning_agenda_question')),
    sa.UniqueConstraint('agency', 'number', name=op.f('uq_learning_agenda_question_agency_number'))
    )
    op.create_table('login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username_key', sa.String(length=64), nullable=False),
    sa.Column('client_key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure'))
    )
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index('ix_login_failure_client_key_at', ['client_key', 'at'], unique=False)
        batch_op.create_index('ix_login_failure_username_key_at', ['username_key', 'at'], unique=False)

    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('admin', 'researcher', 'analyst', 'viewer', name='user_role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('username', name=op.f('uq_user_username'))
    )
    op.create_table('auth_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_auth_session_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_session_token_hash'))
    )
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_session_user_id'), ['user_id'], unique=False)

    op.create_table('study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('method', sa.Enum('interviews', 'focus-groups', 'usability-testing', 'survey', 'ticket-analysis', 'observation', 'mixed-methods', name='study_method', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('service', sa.String(length=120), nullable=False),
    sa.Column('omb_control_number', sa.String(length=20), nullable=True),
    sa.Column('omb_expires_on', sa.Date(), nullable=True),
    sa.Column('retention_until', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('omb_expires_on IS NULL OR omb_control_number IS NOT NULL', name=op.f('ck_study_omb_expiry_needs_number')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_study_created_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study')),
    sa.UniqueConstraint('name', name=op.f('uq_study_name'))
    )
    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_service'), ['service'], unique=False)

    op.create_table('insight',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('service', sa.String(length=120), nullable=True),
    sa.Column('journey_stage', sa.String(length=120), nullable=True),
    sa.Column('segment', sa.String(length=120), nullable=True),
    sa.Column('status', sa.Enum('draft', 'reviewed', 'published', name='insight_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_insight_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['published_by_id'], ['user.id'], name=op.f('fk_insight_published_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['user.id'], name=op.f('fk_insight_reviewed_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_insight_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight'))
    )
    with op.batch_alter_table('insight', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_study_id'), ['study_id'], unique=False)

    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='job_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=120), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_job_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_job_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job'))
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index('ix_job_status_id', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_study_id'), ['study_id'], unique=False)

    op.create_table('source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('interview', 'focus-group', 'usability', 'ticket', 'survey', 'observation', name='source_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=True),
    sa.Column('channel', sa.String(length=60), nullable=True),
    sa.Column('segment', sa.String(length=120), nullable=True),
    sa.Column('journey_stage', sa.String(length=120), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('redaction_summary', sa.JSON(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_source_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_source_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source')),
    sa.UniqueConstraint('study_id', 'content_sha256', name=op.f('uq_source_study_id_content_sha256'))
    )
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.create_index('ix_source_study_id_kind', ['study_id', 'kind'], unique=False)

    op.create_table('study_membership',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('admin', 'researcher', 'analyst', 'viewer', name='membership_role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_study_membership_study_id_study'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_study_membership_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('study_id', 'user_id', name=op.f('pk_study_membership'))
    )
    with op.batch_alter_table('study_membership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_membership_user_id'), ['user_id'], unique=False)

    op.create_table('tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('color', sa.String(length=7), nullable=True),
    sa.Column('is_system', sa.Boolean(), nullable=False),
    sa.CheckConstraint('color IS NULL OR length(color) = 7', name=op.f('ck_tag_color_hex')),
    sa.ForeignKeyConstraint(['parent_id'], ['tag.id'], name=op.f('fk_tag_parent_id_tag'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_tag_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag')),
    sa.UniqueConstraint('study_id', 'path', name=op.f('uq_tag_study_id_path'))
    )
    with op.batch_alter_table('tag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tag_parent_id'), ['parent_id'], unique=False)

    op.create_table('theme_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='theme_run_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('library_versions', sa.JSON(), nullable=False),
    sa.Column('random_state', sa.Integer(), nullable=False),
    sa.Column('quality', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('previous_run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_theme_run_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['previous_run_id'], ['theme_run.id'], name=op.f('fk_theme_run_previous_run_id_theme_run'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], name=op.f('fk_theme_run_study_id_study'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_theme_run'))
    )
    with op.batch_alter_table('theme_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_run_study_id'), ['study_id'], unique=False)

    op.create_table('insight_driver',
    sa.Column('insight_id', sa.Integer(), nullable=False),
    sa.Column('driver', sa.Enum('trust', 'effectiveness', 'ease', 'efficiency', 'transparency', 'humanity', 'employee-helpfulness', 'satisfaction', name='a11_driver', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('polarity', sa.Enum('positive', 'negative', name='insight_driver_polarity', native_enum=False, create_constraint=True), nullable=False),
    sa.ForeignKeyConstraint(['insight_id'], ['insight.id'], name=op.f('fk_insight_driver_insight_id_insight'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('insight_id', 'driver', name=op.f('pk_insight_driver'))
    )
    op.create_table('insight_question',
    sa.Column('insight_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['insight_id'], ['insight.id'], name=op.f('fk_insight_question_insight_id_insight'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['learning_agenda_question.id'], name=op.f('fk_insight_question_question_id_learning_agenda_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('insight_id', 'question_id', name=op.f('pk_insight_question'))
    )
    with op.batch_alter_table('insight_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_question_question_id'), ['question_id'], unique=False)

    op.create_table('passage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('speaker_role', sa.String(length=40), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('start_offset', sa.Integer(), nullable=False),
    sa.Column('end_offset', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=True),
    sa.CheckConstraint('start_offset >= 0 AND end_offset >= start_offset', name=op.f('ck_passage_offsets_ordered')),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], name=op.f('fk_passage_source_id_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passage')),
    sa.UniqueConstraint('source_id', 'position', name=op.f('uq_passage_source_id_position'))
    )
    op.create_table('theme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('top_terms', sa.JSON(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('proposed', 'accepted', 'merged', 'rejected', name='theme_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('predecessor_id', sa.Integer(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('size >= 0', name=op.f('ck_theme_size_nonnegative')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['theme.id'], name=op.f('fk_theme_merged_into_id_theme'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['theme.id'], name=op.f('fk_theme_parent_id_theme'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['predecessor_id'], ['theme.id'], name=op.f('fk_theme_predecessor_id_theme'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['theme_run.id'], name=op.f('fk_theme_run_id_theme_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_theme'))
    )
    with op.batch_alter_table('theme', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_theme_run_id'), ['run_id'], unique=False)

    op.create_table('highlight',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('start_offset', sa.Integer(), nullable=False),
    sa.Column('end_offset', sa.Integer(), nullable=False),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('start_offset >= 0 AND end_offset > start_offset', name=op.f('ck_highlight_span')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_highlight_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_highlight_passage_id_passage'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_highlight'))
    )
    with op.batch_alter_table('highlight', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_highlight_passage_id'), ['passage_id'], unique=False)

    op.create_table('insight_passage',
    sa.Column('insight_id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['insight_id'], ['insight.id'], name=op.f('fk_insight_passage_insight_id_insight'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_insight_passage_passage_id_passage'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('insight_id', 'passage_id', name=op.f('pk_insight_passage'))
    )
    with op.batch_alter_table('insight_passage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_passage_passage_id'), ['passage_id'], unique=False)

    op.create_table('insight_theme',
    sa.Column('insight_id', sa.Integer(), nullable=False),
    sa.Column('theme_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['insight_id'], ['insight.id'], name=op.f('fk_insight_theme_insight_id_insight'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['theme_id'], ['theme.id'], name=op.f('fk_insight_theme_theme_id_theme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('insight_id', 'theme_id', name=op.f('pk_insight_theme'))
    )
    with op.batch_alter_table('insight_theme', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_theme_theme_id'), ['theme_id'], unique=False)

    op.create_table('theme_passage',
    sa.Column('theme_id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_theme_passage_passage_id_passage'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['theme_id'], ['theme.id'], name=op.f('fk_theme_passage_theme_id_theme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('theme_id', 'passage_id', name=op.f('pk_theme_passage'))
    )
    with op.batch_alter_table('theme_passage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_passage_passage_id'), ['passage_id'], unique=False)

    op.create_table('highlight_tag',
    sa.Column('highlight_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('polarity', sa.Enum('positive', 'negative', name='highlight_polarity', native_enum=False, create_constraint=True), nullable=True),
    sa.ForeignKeyConstraint(['highlight_id'], ['highlight.id'], name=op.f('fk_highlight_tag_highlight_id_highlight'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tag.id'], name=op.f('fk_highlight_tag_tag_id_tag'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('highlight_id', 'tag_id', name=op.f('pk_highlight_tag'))
    )
    with op.batch_alter_table('highlight_tag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_highlight_tag_tag_id'), ['tag_id'], unique=False)

    op.create_table('insight_highlight',
    sa.Column('insight_id', sa.Integer(), nullable=False),
    sa.Column('highlight_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['highlight_id'], ['highlight.id'], name=op.f('fk_insight_highlight_highlight_id_highlight'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['insight_id'], ['insight.id'], name=op.f('fk_insight_highlight_insight_id_insight'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('insight_id', 'highlight_id', name=op.f('pk_insight_highlight'))
    )
    with op.batch_alter_table('insight_highlight', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_highlight_highlight_id'), ['highlight_id'], unique=False)



def downgrade() -> None:
    for statement in _DROP_AUDIT_TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    with op.batch_alter_table('insight_highlight', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_highlight_highlight_id'))

    op.drop_table('insight_highlight')
    with op.batch_alter_table('highlight_tag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_highlight_tag_tag_id'))

    op.drop_table('highlight_tag')
    with op.batch_alter_table('theme_passage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_passage_passage_id'))

    op.drop_table('theme_passage')
    with op.batch_alter_table('insight_theme', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_theme_theme_id'))

    op.drop_table('insight_theme')
    with op.batch_alter_table('insight_passage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_passage_passage_id'))

    op.drop_table('insight_passage')
    with op.batch_alter_table('highlight', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_highlight_passage_id'))

    op.drop_table('highlight')
    with op.batch_alter_table('theme', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_run_id'))
        batch_op.drop_index(batch_op.f('ix_theme_parent_id'))

    op.drop_table('theme')
    op.drop_table('passage')
    with op.batch_alter_table('insight_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_question_question_id'))

    op.drop_table('insight_question')
    op.drop_table('insight_driver')
    with op.batch_alter_table('theme_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_run_study_id'))

    op.drop_table('theme_run')
    with op.batch_alter_table('tag', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tag_parent_id'))

    op.drop_table('tag')
    with op.batch_alter_table('study_membership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_membership_user_id'))

    op.drop_table('study_membership')
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_index('ix_source_study_id_kind')

    op.drop_table('source')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_study_id'))
        batch_op.drop_index('ix_job_status_id')

    op.drop_table('job')
    with op.batch_alter_table('insight', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_study_id'))

    op.drop_table('insight')
    with op.batch_alter_table('study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_service'))

    op.drop_table('study')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_session_user_id'))

    op.drop_table('auth_session')
    op.drop_table('user')
    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failure_username_key_at')
        batch_op.drop_index('ix_login_failure_client_key_at')

    op.drop_table('login_failure')
    op.drop_table('learning_agenda_question')
    with op.batch_alter_table('index_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_index_outbox_passage_id'))

    op.drop_table('index_outbox')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_study_id_at')
        batch_op.drop_index(batch_op.f('ix_audit_event_actor_id'))

    op.drop_table('audit_event')
