"""Search over de-identified passages, behind a small back-end interface.

``types`` holds the query and result types every back end speaks and the ``SearchBackend``
interface; ``whoosh_backend`` (with ``whoosh_query``) is the embedded default; ``postgres_backend`` (with ``pg_query``, which compiles
the same query language to SQL, and ``postgres_schema``) is PostgreSQL's own full text, for
several hosts on one database; ``documents`` turns database rows into index documents;
``indexer`` is the one writer, draining the outbox. ``SEARCH_BACKEND`` chooses the back end
from ``BACKENDS``; a new one (OpenSearch) is a module implementing ``SearchBackend`` that
passes ``tests/test_search_contract.py``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask

from .types import (FACETS, MAX_RESULT_DEPTH, Facet, FacetValue, Hit, IndexUnavailable, QueryRejected, SearchBackend,
                    SearchQuery, SearchResults)

_KEY = "research_repo.search_backend"


def _whoosh(app: Flask) -> SearchBackend:
    from .whoosh_backend import WhooshBackend

    return WhooshBackend(Path(app.config["INDEX_DIR"]), time_limit=float(app.config["SEARCH_TIME_LIMIT_SECONDS"]))


def _postgres(app: Flask) -> SearchBackend:
    from ..extensions import get_db
    from .postgres_backend import PostgresBackend

    return PostgresBackend(get_db(app).engine, time_limit=float(app.config["SEARCH_TIME_LIMIT_SECONDS"]))


# SEARCH_BACKEND name -> factory(app). Imported lazily: only the chosen engine is loaded.
# "postgres" needs a PostgreSQL DATABASE_URL: the index is tables in the same database.
BACKENDS: dict[str, Callable[[Flask], SearchBackend]] = {"whoosh": _whoosh, "postgres": _postgres}


def backend(app: Flask) -> SearchBackend:
    """The app's search back end, as ``SEARCH_BACKEND`` names it (one per app; cheap: it
    opens the index per call)."""
    found = app.extensions.get(_KEY)
    if found is None:
        found = app.extensions[_KEY] = BACKENDS[app.config["SEARCH_BACKEND"]](app)
    return found


__all__ = ["BACKENDS", "FACETS", "MAX_RESULT_DEPTH", "Facet", "FacetValue", "Hit", "IndexUnavailable", "QueryRejected",
           "SearchBackend", "SearchQuery", "SearchResults", "backend"]
