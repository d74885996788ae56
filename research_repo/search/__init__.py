"""Search over de-identified passages, behind a small back-end interface.

``types`` holds the query and result types every back end speaks; ``whoosh_backend`` is the
embedded default and the only module that imports a search engine; ``documents`` turns
database rows into index documents; ``indexer`` is the one writer, draining the outbox.
An OpenSearch back end would implement ``SearchBackend`` with the same types.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from .types import (FACETS, MAX_RESULT_DEPTH, Facet, FacetValue, Hit, IndexUnavailable, QueryRejected, SearchBackend,
                    SearchQuery, SearchResults)

_KEY = "research_repo.search_backend"


def backend(app: Flask) -> SearchBackend:
    """The app's search back end (one per app; cheap: it opens the index per call)."""
    found = app.extensions.get(_KEY)
    if found is None:
        from .whoosh_backend import WhooshBackend

        index_dir = Path(app.config["INDEX_DIR"])
        found = app.extensions[_KEY] = WhooshBackend(index_dir,
                                                     time_limit=float(app.config["SEARCH_TIME_LIMIT_SECONDS"]))
    return found


__all__ = ["FACETS", "MAX_RESULT_DEPTH", "Facet", "FacetValue", "Hit", "IndexUnavailable", "QueryRejected",
           "SearchBackend", "SearchQuery", "SearchResults", "backend"]
