"""Alembic environment: imports the models' metadata, never the app."""
from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from research_repo.models import metadata
from research_repo.models._types import UTCDateTime
from research_repo.search.postgres_schema import not_search_table

config = context.config
target_metadata = metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or os.environ.get("RESEARCH_REPO_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            "No database URL: pass -x url=sqlite:///path/to/research_repo.sqlite3 or set "
            "RESEARCH_REPO_DATABASE_URL (or run `research-repo init`, which knows the data directory)."
        )
    return url


def _render_item(type_, obj, autogen_context):
    # Revisions must not import app code: UTCDateTime is a plain DATETIME in the database.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        # The PostgreSQL search back end's tables are an index, made by hand in 0011.
        include_object=not_search_table,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
