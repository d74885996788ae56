"""The PostgreSQL full-text search back end's tables (``research_repo.search.postgres_schema``):
documents (their text, facets and a stored tsvector under a GIN index), their words, and whether the index is
built. PostgreSQL only; nothing changes on SQLite.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:00:00
"""
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


TABLES = [
    """CREATE TABLE search_document (
        passage_id INTEGER PRIMARY KEY,
        source_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        study_id INTEGER NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL,
        speaker TEXT, kind TEXT, service TEXT, channel TEXT, stage TEXT, segment TEXT, year TEXT, quarter TEXT,
        happened_at TIMESTAMP WITHOUT TIME ZONE,
        tags TEXT[] NOT NULL DEFAULT '{}',
        themes TEXT[] NOT NULL DEFAULT '{}',
        drivers TEXT[] NOT NULL DEFAULT '{}',
        words TSVECTOR NOT NULL
    )""",
    "CREATE INDEX ix_search_document_words ON search_document USING gin (words)",
    "CREATE INDEX ix_search_document_study_id ON search_document (study_id)",
    "CREATE TABLE search_word (word TEXT PRIMARY KEY, documents INTEGER NOT NULL)",
    "CREATE INDEX ix_search_word_pattern ON search_word (word text_pattern_ops)",
    "CREATE TABLE search_state (id INTEGER PRIMARY KEY, built_at TIMESTAMP WITH TIME ZONE NOT NULL)",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in TABLES:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("search_state", "search_word", "search_document"):
            op.execute(f"DROP TABLE {table}")
