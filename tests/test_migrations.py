"""Alembic revisions build exactly the models' schema, and come back down cleanly."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from research_repo import schema
from research_repo.models import metadata
from research_repo.search import postgres_schema as search_schema
from research_repo.search.postgres_schema import not_search_table


@pytest.fixture
def engine(tmp_path, empty_database_url):
    """An empty database: a SQLite file, or on PostgreSQL a database of this test's own."""
    engine = create_engine(empty_database_url or f"sqlite:///{tmp_path / 'm.sqlite3'}")
    yield engine
    engine.dispose()


def _table_of(obj) -> str:
    return obj.name if hasattr(obj, "columns") and not hasattr(obj, "table") else obj.table.name


def _triggers(conn) -> list:
    if conn.dialect.name == "sqlite":
        return conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
    return conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal UNION ALL "
                             "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                             "WHERE n.nspname = 'public'")).all()


def test_upgrade_to_head_matches_models(engine):
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": not_search_table})
        diff = compare_metadata(context, metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    search_tables = set(search_schema.TABLES) if engine.dialect.name == "postgresql" else set()
    assert tables == set(metadata.tables) | {"alembic_version"} | search_tables
    if search_tables:  # the search back end's own tables, as its module declares them, also after a
        # rebuild (which builds new tables and renames them into place)
        from research_repo.search.postgres_backend import PostgresBackend

        backend = PostgresBackend(engine)
        with backend.writer_lock():
            backend.rebuild([[{"passage_id": 1, "source_id": 1, "position": 0, "study": 1, "text": "A letter."}]])
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            # Against the search tables alone: the models' tables show up as "remove", and are
            # compared above.
            diff = [d for d in compare_metadata(context, search_schema.metadata)
                    if not (d[0] in ("remove_table", "remove_index") and _table_of(d[1]) not in search_schema.TABLES)]
        assert diff == []


def test_downgrade_to_base_removes_everything(engine):
    schema.upgrade(engine)
    schema.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    with engine.connect() as conn:
        assert _triggers(conn) == []  # triggers, and on PostgreSQL their functions
    schema.upgrade(engine)  # and back up again
    assert schema.current_revision(engine) == schema.head_revision()


def test_migrated_audit_log_is_append_only(engine):
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_event (at, action, details) VALUES ('2026-01-01', 'x', '{}')"))
    for statement in ("UPDATE audit_event SET action = 'y'", "DELETE FROM audit_event"):
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_event")).scalar_one() == "x"


def test_studies_made_before_0005_get_the_locked_a11_set(engine):
    schema.upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO study (name, purpose, method, service, created_at) "
                          "VALUES ('Old study', '', 'interviews', 'USAJOBS', '2026-01-01')"))
    schema.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT path, driver FROM tag WHERE is_system ORDER BY path")).all()
    assert rows[0] == ("A-11 drivers", None) and len(rows) == 9
    assert {d for _, d in rows[1:]} == {"trust", "effectiveness", "ease", "efficiency", "transparency", "humanity",
                                        "employee-helpfulness", "satisfaction"}
    schema.downgrade(engine, "0004")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tag")).scalar_one() == 0
