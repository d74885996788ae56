"""Full-text search in PostgreSQL itself (``SEARCH_BACKEND=postgres``): for a repository that
has outgrown one machine. Every app and worker host reads the same index, because the index is
tables in the one database (``postgres_schema``); there are no index files per host.

- Writing: one writer at a time across hosts, by a session advisory lock (``writer_lock``).
  ``apply`` replaces and removes documents and keeps ``search_word`` exact; text that must leave
  the files (a delete, a redaction) goes with ``purge``: ``VACUUM FULL`` of the two tables,
  because a plain VACUUM leaves old row bytes in free space and a GIN index keeps its words.
- Reading: the query language is compiled by ``pg_query`` (the same grammar as Whoosh); access
  is a condition of the SQL (``study_id = ANY(...)``), applied before anything is counted,
  ranked or highlighted. Hits rank by ``ts_rank_cd``; highlights are ``ts_headline`` over the
  passage's text with private markers, HTML-escaped, then marked: a passage's ``<img
  onerror>`` is shown as text, never as markup.
"""
from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from .pg_query import COLUMNS, CONFIG, STEM, Compiler, any_of, near_words, parse
from .types import (FACETS, FUZZY_PREFIX, MAX_RESULT_DEPTH, Facet, FacetValue, Hit, IndexUnavailable, QueryRejected,
                    SearchBackend, SearchQuery, SearchResults)

SEARCH_WRITER_LOCK = 0x72725F7365617263  # "rr_searc": held by the one index writer, any host
START, STOP = "\ue000", "\ue001"  # private-use characters: where ts_headline marks a match
# ts_headline reads "<b>" as markup: it drops it from fragments and passes it through whole
# otherwise (an "<img onerror>" unchanged). So "<" and ">" go in as two more private-use
# characters and come out as "&lt;" and "&gt;": a passage's brackets are shown as text.
LT, GT = "\ue002", "\ue003"
MARKERS = START + STOP + LT + GT
# A short passage is shown whole with its matches marked (as Whoosh does up to 320 characters);
# a longer one as up to three fragments around its matches.
SHORT = 320
HEADLINE_ALL = f"StartSel={START}, StopSel={STOP}, HighlightAll=true"
HEADLINE = (f"StartSel={START}, StopSel={STOP}, MaxFragments=3, MaxWords=40, MinWords=12, "
            "FragmentDelimiter=\" … \"")
_DOC_COLUMNS = ("passage_id", "source_id", "position", "study_id", "title", "body", "speaker", "kind", "service", "channel",
                "stage", "segment", "year", "quarter", "happened_at", "tags", "themes", "drivers")
_INSERT = text(
    "INSERT INTO search_document (" + ", ".join(_DOC_COLUMNS) + ", words) VALUES ("
    + ", ".join(f":{c}" for c in _DOC_COLUMNS) + f", to_tsvector('{CONFIG}', :body))")
_BUILT = "SELECT EXISTS (SELECT 1 FROM search_state)"  # a rebuild has made the index
# The words of some documents, with how many of those documents hold each.
_WORDS_OF = ("SELECT word, count(*) AS n FROM search_document d, unnest(tsvector_to_array(d.words)) AS word "
             "WHERE d.passage_id = ANY(:ids) GROUP BY word")


def _row(doc: dict) -> dict:
    return {
        "passage_id": int(doc["passage_id"]), "source_id": int(doc["source_id"]), "position": int(doc["position"]),
        "study_id": int(doc["study"]), "title": doc.get("title") or "", "speaker": doc.get("speaker"),
        "kind": doc.get("kind"), "service": doc.get("service"), "channel": doc.get("channel"),
        "stage": doc.get("stage"), "segment": doc.get("segment"), "year": doc.get("year"),
        "quarter": doc.get("quarter"), "happened_at": doc.get("date"), "tags": list(doc.get("tag") or []),
        "themes": list(doc.get("theme") or []), "drivers": list(doc.get("driver") or []),
        # The highlight markers cannot occur in a passage.
        "body": (doc.get("text") or "").translate({ord(c): None for c in MARKERS}),
    }


def _unavailable(exc: DBAPIError) -> bool:
    """The search tables are missing (the database is not migrated for this back end)."""
    return getattr(exc.orig, "sqlstate", None) == "42P01"


class PostgresBackend(SearchBackend):
    def __init__(self, engine: Engine, *, time_limit: float = 5.0) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("The postgres search back end needs a PostgreSQL DATABASE_URL.")
        self.engine = engine
        self.time_limit = time_limit

    # ---- writing

    @contextlib.contextmanager
    def writer_lock(self, *, blocking: bool = True) -> Iterator[bool]:
        """A session advisory lock on a connection of its own, held for the block: the one writer
        among every process on every host (released by the server if the process dies)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if blocking:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({SEARCH_WRITER_LOCK})")
            elif not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({SEARCH_WRITER_LOCK})").scalar():
                yield False
                return
            try:
                yield True
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SEARCH_WRITER_LOCK})")

    def exists(self) -> bool:
        try:
            with self.engine.connect() as conn:
                return bool(conn.exec_driver_sql(_BUILT).scalar())
        except DBAPIError as exc:
            if _unavailable(exc):
                return False
            raise

    def apply(self, upserts: list[dict], deletes: Iterable[int]) -> None:
        """Call under ``writer_lock``: one transaction, so a search sees all of it or none."""
        rows = [_row(d) for d in upserts]
        ids = sorted({r["passage_id"] for r in rows} | {int(i) for i in deletes})
        if not ids:
            return
        with self.engine.begin() as conn:
            self._remove(conn, ids)
            if rows:
                conn.execute(_INSERT, rows)
                conn.execute(text(
                    f"INSERT INTO search_word (word, documents) {_WORDS_OF} "
                    "ON CONFLICT (word) DO UPDATE SET documents = search_word.documents + excluded.documents"),
                    {"ids": [r["passage_id"] for r in rows]})

    @staticmethod
    def _remove(conn, ids: list[int]) -> None:
        conn.execute(text(f"UPDATE search_word w SET documents = w.documents - c.n FROM ({_WORDS_OF}) c "
                          "WHERE w.word = c.word"), {"ids": ids})
        conn.execute(text("DELETE FROM search_word WHERE documents <= 0"))
        conn.execute(text("DELETE FROM search_document WHERE passage_id = ANY(:ids)"), {"ids": ids})

    def purge(self, passage_ids: Iterable[int]) -> None:
        """Rewrite the index tables so removed words leave the database's files (call after a
        delete or a redaction was applied; which passages does not matter here). Searches
        wait for the rewrite."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM FULL search_document, search_word")

    def rebuild(self, batches: Iterable[list[dict]], *, procs: int = 1) -> int:
        """Call under ``writer_lock``. Builds new tables beside the live ones and swaps them in,
        as Whoosh builds a new directory: searches read the old index until the swap, which
        takes a moment; the old tables' files are then deleted with their words. Rows go in by
        COPY, the tsvectors are made in one pass, and the GIN index is built after the load (far
        faster than updating it row by row). ``procs`` is ignored (the server does the work)."""
        count = 0
        columns = ", ".join(_DOC_COLUMNS)
        with self.engine.begin() as conn:
            for stale in ("search_document_new", "search_word_new", "search_document_load"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stale}")
            conn.exec_driver_sql("CREATE TEMPORARY TABLE search_document_load "
                                 "(LIKE search_document INCLUDING DEFAULTS) ON COMMIT DROP")
            conn.exec_driver_sql("ALTER TABLE search_document_load DROP COLUMN words")
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(f"COPY search_document_load ({columns}) FROM STDIN") as copy:
                for batch in batches:
                    for doc in batch:
                        row = _row(doc)
                        copy.write_row([row[c] for c in _DOC_COLUMNS])
                        count += 1
            conn.exec_driver_sql("CREATE TABLE search_document_new (LIKE search_document INCLUDING DEFAULTS)")
            conn.exec_driver_sql(f"INSERT INTO search_document_new ({columns}, words) SELECT {columns}, "
                                 f"to_tsvector('{CONFIG}', body) FROM search_document_load")
            conn.exec_driver_sql("ALTER TABLE search_document_new ADD CONSTRAINT search_document_new_pkey "
                                 "PRIMARY KEY (passage_id)")
            conn.exec_driver_sql("CREATE INDEX ix_search_document_new_words ON search_document_new USING gin (words)")
            conn.exec_driver_sql("CREATE INDEX ix_search_document_new_study_id ON search_document_new (study_id)")
            conn.exec_driver_sql("CREATE TABLE search_word_new (LIKE search_word INCLUDING ALL)")
            conn.exec_driver_sql("INSERT INTO search_word_new (word, documents) SELECT word, ndoc FROM "
                                 "ts_stat('SELECT words FROM search_document_new')")
            # The swap: a moment's exclusive lock on the live tables.
            conn.exec_driver_sql("DROP TABLE search_document, search_word")
            for old, new in (("search_document_new", "search_document"), ("search_word_new", "search_word")):
                conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")
            conn.exec_driver_sql("ALTER INDEX search_document_new_pkey RENAME TO search_document_pkey")
            conn.exec_driver_sql("ALTER INDEX ix_search_document_new_words RENAME TO ix_search_document_words")
            conn.exec_driver_sql("ALTER INDEX ix_search_document_new_study_id RENAME TO ix_search_document_study_id")
            conn.exec_driver_sql("ALTER INDEX search_word_new_pkey RENAME TO search_word_pkey")
            conn.exec_driver_sql("ALTER INDEX search_word_new_word_idx RENAME TO ix_search_word_pattern")
            conn.execute(text("INSERT INTO search_state (id, built_at) VALUES (1, :now) "
                              "ON CONFLICT (id) DO UPDATE SET built_at = excluded.built_at"), {"now": datetime.now(UTC)})
        return count

    # ---- reading

    @contextlib.contextmanager
    def _reading(self) -> Iterator:
        """A read with the search time limit (statement_timeout), or IndexUnavailable when the
        index is not built."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.time_limit * 1000)}")
                if not conn.exec_driver_sql(_BUILT).scalar():
                    raise IndexUnavailable("The search index is missing; it is being built from the database.")
                yield conn
        except DBAPIError as exc:
            if _unavailable(exc):
                raise IndexUnavailable("The search index is missing; it is being built from the database.") from None
            if getattr(exc.orig, "sqlstate", None) == "57014":  # statement_timeout
                raise QueryRejected(f"This search ran past its {self.time_limit:g}-second limit and was stopped; "
                                    "add words, filters or a shorter date range.") from None
            raise

    def passage_ids(self) -> set[int]:
        with self._reading() as conn:
            return set(conn.exec_driver_sql("SELECT passage_id FROM search_document").scalars())

    def _where(self, conn, q: SearchQuery, allowed: list[int]):
        """(SQL condition, its parameters, the ranking tsquery or None) for a query in the
        studies ``allowed``: access first, then the facet and date filters, then the words."""
        parts = ["study_id = ANY(:allowed)"]
        params: dict = {"allowed": allowed}
        for n, (name, values) in enumerate(sorted(q.filters.items())):
            if name not in FACETS or not values:
                continue
            column, multi = COLUMNS[name]
            params[f"f{n}"] = [str(v) for v in values]
            parts.append(f"{column} && :f{n}" if multi else f"{column} = ANY(:f{n})")
        if q.date_from:
            parts.append("happened_at >= :date_from")
            params["date_from"] = datetime.combine(q.date_from, datetime.min.time())
        if q.date_to:
            parts.append("happened_at < :date_to")
            params["date_to"] = datetime.combine(q.date_to, datetime.min.time()) + timedelta(days=1)
        rank = None
        words = q.text.strip()
        if words:
            compiled = Compiler(lambda sql, p: conn.execute(text(sql), p).all()).compile(parse(words))
            parts.append(f"({compiled.cond})")
            params.update(compiled.params)
            rank = compiled.rank
        return " AND ".join(parts), params, rank

    def matching_passage_ids(self, q: SearchQuery, study_ids: Iterable[int], limit: int = 100_000) -> list[int]:
        allowed = sorted({int(i) for i in study_ids})
        if not allowed:
            return []
        with self._reading() as conn:
            where, params, _rank = self._where(conn, q, allowed)
            return list(conn.execute(text(f"SELECT d.passage_id FROM search_document d WHERE {where} "
                                          "ORDER BY d.passage_id LIMIT :limit"), {**params, "limit": limit}).scalars())

    def search(self, q: SearchQuery, study_ids: Iterable[int]) -> SearchResults:
        allowed = sorted({int(i) for i in study_ids})
        page = max(q.page, 1)
        if page * q.per_page > MAX_RESULT_DEPTH:
            raise QueryRejected(f"Results are listed up to the first {MAX_RESULT_DEPTH:,}; narrow the search "
                                "with words or filters, or sort by date.")
        if not allowed:  # nothing readable: nothing, whatever state the index is in (as on Whoosh)
            return self._nothing(q)
        with self._reading() as conn:
            where, params, rank = self._where(conn, q, allowed)
            score = f"ts_rank_cd(d.words, {rank})" if rank else "0.0"
            order = ("d.happened_at DESC NULLS LAST, d.passage_id" if q.sort == "date"
                     else "score DESC, d.passage_id" if rank else "d.passage_id")
            rows = conn.execute(text(
                f"SELECT d.passage_id, d.source_id, d.study_id, d.title, d.speaker, d.happened_at, {score} AS score "
                f"FROM search_document d WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset"),
                {**params, "limit": q.per_page, "offset": (page - 1) * q.per_page}).all()
            total = conn.execute(text(f"SELECT count(*) FROM search_document d WHERE {where}"), params).scalar()
            facets = self._facets(conn, where, params) if q.facets else []
            snippets = self._snippets(conn, [r.passage_id for r in rows], rank, params)
            hits = [Hit(passage_id=r.passage_id, source_id=r.source_id, study_id=r.study_id, title=r.title,
                        speaker=r.speaker, snippet_html=snippets.get(r.passage_id, ""), score=float(r.score or 0.0),
                        date=r.happened_at.date().isoformat() if r.happened_at else None) for r in rows]
            suggestion = self._suggest(conn, q.text, allowed) if q.text.strip() and total == 0 else None
        pages = max(1, -(-total // q.per_page))
        return SearchResults(total, page, pages, hits, facets, suggestion)

    @staticmethod
    def _nothing(q: SearchQuery) -> SearchResults:
        facets = [Facet(name, label, []) for name, (_f, label, _m) in FACETS.items()] if q.facets else []
        return SearchResults(0, max(q.page, 1), 1, [], facets)

    @staticmethod
    def _facets(conn, where: str, params: dict) -> list[Facet]:
        """Every facet's top 20 values over the hits, in one statement over the hits once."""
        columns = {name: (COLUMNS[name][0].removesuffix("::text"), COLUMNS[name][1]) for name in FACETS}
        selects = []
        for name, (column, multi) in columns.items():
            value = f"unnest(h.{column})" if multi else f"h.{column}"
            selects.append(f"(SELECT '{name}' AS facet, v AS value, count(*) AS n FROM "
                           f"(SELECT ({value})::text AS v FROM hits h) s WHERE v IS NOT NULL AND v <> '' "
                           "GROUP BY v ORDER BY n DESC, v LIMIT 20)")
        sql = (f"WITH hits AS MATERIALIZED (SELECT {', '.join(c for c, _m in columns.values())} "
               f"FROM search_document WHERE {where}) " + " UNION ALL ".join(selects))
        counts: dict[str, list[FacetValue]] = {name: [] for name in FACETS}
        for facet, value, n in conn.execute(text(sql), params):
            counts[facet].append(FacetValue(str(value), int(n)))
        return [Facet(name, label, sorted(counts[name], key=lambda v: (-v.count, v.value)))
                for name, (_field, label, _multi) in FACETS.items()]

    @staticmethod
    def _snippets(conn, ids: list[int], rank: str | None, params: dict) -> dict[int, str]:
        """Highlights of one page of hits: the matches marked, the rest escaped. With no words
        looked for, the passage's start."""
        if not ids:
            return {}
        if rank is None:
            rows = conn.execute(text("SELECT passage_id, body FROM search_document WHERE passage_id = ANY(:ids)"),
                                {"ids": ids}).all()
            return {pid: html.escape(body[:300] + ("…" if len(body) > 300 else "")) for pid, body in rows}
        marked = conn.execute(text(
            f"SELECT passage_id, ts_headline('{CONFIG}', translate(body, '<>', :brackets), {rank}, "
            f"CASE WHEN length(body) <= {SHORT} THEN :whole ELSE :fragments END) "
            "FROM search_document WHERE passage_id = ANY(:ids)"),
            {**params, "ids": ids, "brackets": LT + GT, "whole": HEADLINE_ALL, "fragments": HEADLINE}).all()
        out = {}
        for pid, headline in marked:
            escaped = html.escape(headline or "", quote=False)
            out[pid] = (escaped.replace(START, '<mark class="rr-hit">').replace(STOP, "</mark>")
                        .replace(LT, "&lt;").replace(GT, "&gt;"))
        return out

    @staticmethod
    def _suggest(conn, typed: str, allowed: list[int]) -> str | None:
        """"Did you mean": each word of at least 4 letters that no readable passage has,
        replaced by the nearest word that one has (one edit below 6 letters, else two; the
        first letter kept; among the nearest, the most frequent), checking at most 200."""
        out, changed = typed, False
        for word in dict.fromkeys(re.findall(r"[^\W\d_]{4,}", typed)):
            stem = conn.execute(text(STEM), {"w": word.lower()}).scalar()
            if not stem or PostgresBackend._readable(conn, stem, allowed):
                continue
            near = near_words(lambda sql, p: conn.execute(text(sql), p).all(), stem, 1 if len(word) < 6 else 2,
                              FUZZY_PREFIX)
            best = next((w for _d, _n, w in near[:200] if PostgresBackend._readable(conn, w, allowed)), None)
            if best:
                out, changed = re.sub(rf"\b{re.escape(word)}\b", best, out, count=1), True
        return out if changed else None

    @staticmethod
    def _readable(conn, lexeme: str, allowed: list[int]) -> bool:
        return bool(conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM search_document WHERE study_id = ANY(:allowed) "
            "AND words @@ to_tsquery('simple', :q))"),
            {"allowed": allowed, "q": any_of([lexeme])}).scalar())

    def more_like_this(self, passage_id: int, study_ids: Iterable[int], limit: int = 5) -> list[Hit]:
        """Passages that share the rarest words of this one (up to 15, by how few documents hold
        them), ranked by how many they share, from the given studies only."""
        allowed = sorted({int(i) for i in study_ids})
        if not allowed:
            return []
        with self._reading() as conn:
            own = conn.execute(text("SELECT study_id FROM search_document WHERE passage_id = :p"),
                               {"p": passage_id}).scalar()
            if own is None or own not in allowed:
                return []
            words = conn.execute(text(
                "SELECT w.word FROM search_document d, unnest(tsvector_to_array(d.words)) AS t(word) "
                "JOIN search_word w ON w.word = t.word WHERE d.passage_id = :p AND length(w.word) > 2 "
                "ORDER BY w.documents, w.word LIMIT 15"), {"p": passage_id}).scalars().all()
            if not words:
                return []
            ts = any_of(words)
            rank = "to_tsquery('simple', :mlt)"
            rows = conn.execute(text(
                f"SELECT d.passage_id, d.source_id, d.study_id, d.title, d.speaker, d.happened_at, "
                f"ts_rank_cd(d.words, {rank}) AS score FROM search_document d "
                f"WHERE d.study_id = ANY(:allowed) AND d.passage_id <> :p AND d.words @@ {rank} "
                "ORDER BY score DESC, d.passage_id LIMIT :limit"),
                {"allowed": allowed, "p": passage_id, "mlt": ts, "limit": limit}).all()
            snippets = self._snippets(conn, [r.passage_id for r in rows], rank, {"mlt": ts})
        return [Hit(passage_id=r.passage_id, source_id=r.source_id, study_id=r.study_id, title=r.title,
                    speaker=r.speaker, snippet_html=snippets.get(r.passage_id, ""), score=float(r.score or 0.0),
                    date=r.happened_at.date().isoformat() if r.happened_at else None) for r in rows]
