"""The tables of the PostgreSQL full-text back end (``postgres_backend``), created by migration
0011 on PostgreSQL only. They are an index, as Whoosh's files are: derived from the passages
and rebuilt from the database at any time, so they sit outside the models' metadata.

- ``search_document``: one row per indexed passage, with its facets and a stored ``tsvector``
  (English stemming, as the Whoosh analyser) under a GIN index, and its text for highlights
  (as Whoosh stores it), so a back end needs nothing but the documents it is given.
- ``search_word``: every word (lexeme) of the documents with how many hold it; what prefixes,
  wildcards, fuzzy words and "did you mean" expand against, kept exact by the one writer, so a
  redacted or deleted word leaves it when its last document does.
- ``search_state``: one row once the index has been built (an unbuilt index is "missing").
"""
from __future__ import annotations

from sqlalchemy import ARRAY, Column, DateTime, Index, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import TSVECTOR

metadata = MetaData()

search_document = Table(
    "search_document", metadata,
    Column("passage_id", Integer, primary_key=True, autoincrement=False),
    Column("source_id", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("study_id", Integer, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    Column("body", Text, nullable=False),
    Column("speaker", Text), Column("kind", Text), Column("service", Text), Column("channel", Text),
    Column("stage", Text), Column("segment", Text), Column("year", Text), Column("quarter", Text),
    Column("happened_at", DateTime),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("themes", ARRAY(Text), nullable=False, server_default="{}"),
    Column("drivers", ARRAY(Text), nullable=False, server_default="{}"),
    Column("words", TSVECTOR, nullable=False),
    Index("ix_search_document_words", "words", postgresql_using="gin"),
    Index("ix_search_document_study_id", "study_id"),
)

search_word = Table(
    "search_word", metadata,
    Column("word", Text, primary_key=True),
    Column("documents", Integer, nullable=False),
    # LIKE 'ab%' on the word uses this index (text_pattern_ops, whatever the collation).
    Index("ix_search_word_pattern", "word", postgresql_ops={"word": "text_pattern_ops"}),
)

search_state = Table(
    "search_state", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("built_at", DateTime(timezone=True), nullable=False),
)

TABLES = frozenset(metadata.tables)


def not_search_table(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's ``include_object``: the models' schema comparison leaves these tables (and their
    indexes) out; migration 0011 makes them on PostgreSQL only."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table not in TABLES
