"""What every search back end takes and returns; no engine imports here."""
from __future__ import annotations

import abc
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass, field
from datetime import date

from ..services.errors import ValidationError

# Facet name -> (index field, label, multi-valued)
FACETS: dict[str, tuple[str, str, bool]] = {
    "study": ("study", "Study", False),
    "service": ("service", "Service", False),
    "kind": ("kind", "Source kind", False),
    "speaker": ("speaker", "Speaker role", False),
    "channel": ("channel", "Channel", False),
    "stage": ("stage", "Journey stage", False),
    "tag": ("tag", "Tag", True),
    "theme": ("theme", "Theme", True),
    "driver": ("driver", "A-11 driver", True),
    "year": ("year", "Year", False),
    "quarter": ("quarter", "Quarter", False),
}


class IndexUnavailable(Exception):
    """The index is missing, being rebuilt, or unreadable; search says so instead of failing."""


class QueryRejected(ValidationError):
    """A query the back end will not run as typed (too costly, or unreadable): the message says
    what to change, and never repeats what was typed. A 400 at the web edge."""


# What a query may cost, whatever the back end. A search may also run for at most its time
# limit (SEARCH_TIME_LIMIT_SECONDS) before it is stopped.
MAX_QUERY_CHARS = 500
MAX_QUERY_CLAUSES = 64
MAX_FUZZY_EDITS = 2
FUZZY_PREFIX = 1  # a fuzzy word's first letter is never edited
MIN_WILDCARD_PREFIX = 2  # letters before the first * or ?
MAX_EXPANDED_TERMS = 1000  # words one prefix, wildcard, fuzzy word or range may stand for
MAX_RESULT_DEPTH = 10_000  # page x page size


@dataclass
class SearchQuery:
    text: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)  # facet name -> values (OR within, AND across)
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "relevance"  # or "date" (newest first)
    page: int = 1
    per_page: int = 10
    facets: bool = True


@dataclass
class Hit:
    passage_id: int
    source_id: int
    study_id: int
    title: str
    speaker: str | None
    snippet_html: str  # HTML-escaped text with <mark> around matches
    score: float
    date: str | None = None


@dataclass
class FacetValue:
    value: str
    count: int
    label: str | None = None


@dataclass
class Facet:
    name: str
    label: str
    values: list[FacetValue]


@dataclass
class SearchResults:
    total: int
    page: int
    pages: int
    hits: list[Hit]
    facets: list[Facet]
    suggestion: str | None = None


class SearchBackend(abc.ABC):
    """What the app asks of a search engine; nothing else is called. Every back end passes
    ``tests/test_search_contract.py``. Writes happen only under ``writer_lock`` (the index
    writer, ``search.indexer``, is their one caller); reads may run at any time."""

    @abc.abstractmethod
    def writer_lock(self, *, blocking: bool = True) -> contextlib.AbstractContextManager[bool]:
        """Held by the one writer: yields True, or False at once when ``blocking`` is off and
        another writer (in any process) holds it."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """An index is there to search (it may still turn out unreadable: IndexUnavailable)."""

    @abc.abstractmethod
    def apply(self, upserts: list[dict], deletes: Iterable[int]) -> None:
        """Write documents (replacing any with the same ``passage_id``) and remove passage ids.
        Removed text may stay in the engine's files until ``purge`` (or a ``rebuild``)."""

    @abc.abstractmethod
    def purge(self, passage_ids: Iterable[int]) -> None:
        """After ``apply`` removed or replaced these passages (a delete, a redaction), make
        their old text leave the engine's files, without a rebuild."""

    @abc.abstractmethod
    def rebuild(self, batches: Iterable[list[dict]], *, procs: int = 1) -> int:
        """Build a fresh index from all documents and swap it in; returns how many. ``procs``
        is how many processes may share the work."""

    @abc.abstractmethod
    def search(self, query: SearchQuery, study_ids: Iterable[int]) -> SearchResults:
        """One page of hits with facets and highlights, from the given studies only (none:
        nothing). Refuses costly queries with QueryRejected."""

    @abc.abstractmethod
    def more_like_this(self, passage_id: int, study_ids: Iterable[int], limit: int = 5) -> list[Hit]: ...

    @abc.abstractmethod
    def passage_ids(self) -> set[int]:
        """Every indexed passage id (consistency checks)."""

    @abc.abstractmethod
    def matching_passage_ids(self, query: SearchQuery, study_ids: Iterable[int], limit: int = 100_000) -> list[int]:
        """Every passage a search finds (not one page), for theme runs over a search."""
