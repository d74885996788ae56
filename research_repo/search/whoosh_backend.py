"""The embedded search back end: Whoosh (the whoosh3 fork), classic public API only.

One writer at a time, across processes, by an OS file lock next to the index; readers open a
fresh searcher per call (``Searcher.refresh()`` is never used: forks have returned duplicate
hits from a refreshed searcher after a merge). A rebuild writes a new directory and swaps it in.
The cost checks and "did you mean" are ``whoosh_query``; these two are the only modules
that import Whoosh.
"""
from __future__ import annotations

import contextlib
import fcntl
import html
import logging
import os
import pickle
import struct
import zlib
import shutil
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from whoosh import collectors, columns, fields, highlight, index, qparser, query, sorting
from whoosh.filedb.filestore import FileStorage
from whoosh.analysis import StemmingAnalyzer
from whoosh.searching import ResultsPage

from .types import (
    FACETS, FUZZY_PREFIX, MAX_QUERY_CHARS, MAX_RESULT_DEPTH, Facet, FacetValue, Hit, IndexUnavailable, QueryRejected,
    SearchBackend, SearchQuery, SearchResults,
)
from .whoosh_query import ALL, SEARCHABLE, ScopedCorrector, check_cost, nothing_readable

log = logging.getLogger(__name__)
# What reading a damaged segment raises (a bug's TypeError or AttributeError is not among them).
_DAMAGE = (struct.error, zlib.error, EOFError, OSError, ValueError, KeyError, IndexError, UnicodeDecodeError,
           pickle.UnpicklingError, AssertionError)


def make_schema() -> fields.Schema:
    # Facet values repeat (a few services, channels, roles): a column of references to unique
    # values opens in a fraction of the time of the default variable-bytes column.
    facet = dict(stored=True, sortable=columns.RefBytesColumn())
    return fields.Schema(
        passage_id=fields.ID(stored=True, unique=True),
        source_id=fields.NUMERIC(int, stored=True),
        position=fields.NUMERIC(int, stored=True),
        study=fields.ID(**facet),
        # Titles are "Interview 3" or "Ticket 5-120": shown, not searched.
        title=fields.STORED(),
        # No spelling graph: building it slowed every commit, and "did you mean" can read the
        # term dictionary instead (it only runs when a search finds nothing).
        text=fields.TEXT(stored=True, analyzer=StemmingAnalyzer()),
        speaker=fields.ID(**facet),
        kind=fields.ID(**facet),
        service=fields.ID(**facet),
        channel=fields.ID(**facet),
        stage=fields.ID(**facet),
        segment=fields.ID(**facet),
        year=fields.ID(**facet),
        quarter=fields.ID(**facet),
        date=fields.DATETIME(stored=True, sortable=True),
        tag=fields.KEYWORD(stored=True, commas=True, lowercase=False),
        theme=fields.KEYWORD(stored=True, commas=True, lowercase=False),
        driver=fields.KEYWORD(stored=True, commas=True, lowercase=False),
    )


def _whoosh_doc(doc: dict) -> dict:
    out = {}
    for key, value in doc.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, list):
            value = ",".join(v.replace(",", " ") for v in value)
        elif key in ("passage_id", "study"):
            value = str(value)
        out[key] = value
    return out


@contextlib.contextmanager
def _quiet_leaks() -> Iterator[dict]:
    """Whoosh leaves the table-of-contents file open when it cannot parse it. The file is
    closed when the failed call's traceback is freed (or at the next collection); that close
    warns (ResourceWarning), so the whole call, and a collection after it, run with that
    warning silenced."""
    import gc
    import warnings

    state = {"failed": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield state
        finally:
            if state["failed"]:  # only then: a full collection costs milliseconds
                gc.collect()


# Documents per segment a rebuild writes (the last one smaller), the most a delete rewrites
# of a rebuilt index: at 1,000,000 passages 20 segments. See benchmarks/search_bench.py
# --deletes for what a delete costs and what more segments cost a search.
SEGMENT_DOCS = 50_000


def _rewriting(segment_ids: set[str]):
    """A merge policy: copy the segments named (their live documents only) into the new
    segment and keep the others as they are; then Whoosh's usual merge of small segments
    (MERGE_SMALL) on those that are left."""
    from whoosh.reading import SegmentReader
    from whoosh.writing import MERGE_SMALL

    def policy(writer, segments):
        kept = []
        for seg in segments:
            if seg.segid in segment_ids:
                reader = SegmentReader(writer.storage, writer.schema, seg)
                writer.add_reader(reader)
                reader.close()
            else:
                kept.append(seg)
        return MERGE_SMALL(writer, kept)

    return policy


class WhooshBackend(SearchBackend):
    def __init__(self, index_dir: Path, *, time_limit: float = 5.0) -> None:
        # INDEX_DIR holds the live index in a directory of its own, so a rebuild swaps
        # directories inside it: INDEX_DIR itself may be a mount point, which cannot be renamed.
        self.root = Path(index_dir)
        self.index_dir = self.root / "live"
        self.time_limit = time_limit
        self._filters: dict[tuple, set[int]] = {}
        self.lock_path = self.index_dir.parent / f"{self.index_dir.name}.writer.lock"
        # Left by a reader that found the index damaged, for whichever process writes the index
        # (the web server's writer thread or a worker's): it rebuilds from the database.
        self.damaged_path = self.index_dir.parent / f"{self.index_dir.name}.damaged"

    # ---- writing

    @contextlib.contextmanager
    def writer_lock(self, *, blocking: bool = True) -> Iterator[bool]:
        """The one-writer lock (an OS lock, released if the process dies). Yields False when
        ``blocking`` is off and another writer holds it."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def mark_damaged(self, why: str) -> None:
        log.error("search index damaged (%s); it will be rebuilt from the database", why)
        try:
            self.damaged_path.write_text(why[:200], encoding="utf-8")
        except OSError:  # a full or read-only disk: the writer finds the damage itself
            pass

    def exists(self) -> bool:
        """An index directory with a table of contents, not marked damaged by a reader; it may
        still be unreadable (see _open)."""
        if not self.index_dir.is_dir() or self.damaged_path.exists():
            return False
        found = False
        with _quiet_leaks() as state:
            try:
                found = index.exists_in(str(self.index_dir))
            except Exception:  # noqa: BLE001 - an unreadable TOC is a missing index
                found = False
            state["failed"] = not found
        return found

    def _storage(self):
        # No mmap: the fork reads a memory-mapped segment by copying each part it opens into
        # memory (BytesIO over the map), some 20 ms per part per search at 100,000 passages.
        # Without mmap each segment is one open file, read where needed; and since the file
        # stays open, a commit that merges it away cannot pull it from under a search (it
        # can with separate per-part files, which open lazily).
        return FileStorage(str(self.index_dir), supports_mmap=False)

    def _open(self):
        if not self.index_dir.is_dir():
            raise IndexUnavailable("The search index is missing; it is being rebuilt from the database.")
        problem = None
        with _quiet_leaks() as state:
            try:
                return self._storage().open_index()
            except FileNotFoundError:
                raise  # a commit removed files under us: the caller opens again (_retrying)
            except Exception as exc:  # noqa: BLE001 - corrupt files: report, the indexer rebuilds
                problem = type(exc).__name__
                state["failed"] = True
        raise IndexUnavailable(f"The search index cannot be read ({problem}); it is being rebuilt.")

    # A delete or a redaction rewrites the segments that held the removed documents (``purge``):
    # Whoosh's merge copies only live documents' postings and stored fields, so the removed
    # words leave the files with no rebuild from the database.
    def apply(self, upserts: list[dict], deletes: Iterable[int]) -> None:
        """Call under ``writer_lock``."""
        ix = self._open()
        writer = ix.writer(limitmb=128)
        try:
            for passage_id in deletes:
                writer.delete_by_term("passage_id", str(passage_id))
            for doc in upserts:
                writer.update_document(**_whoosh_doc(doc))
        except BaseException:
            writer.cancel()
            raise
        writer.commit(merge=True)

    def purge(self, passage_ids: Iterable[int]) -> None:
        """Call under ``writer_lock``, after ``apply`` removed or replaced these passages: each
        segment still holding one of their old documents (deleted, not yet gone from its files)
        is copied without its deleted documents, and its files go. Costs about the size of
        those segments; a rebuild keeps segments to ``SEGMENT_DOCS`` documents, so a delete
        rewrites a bounded part of a large index. Segments whose deletions are only replaced
        versions of other passages (a tag changed) are left for Whoosh's usual merges."""
        wanted = {str(int(i)) for i in passage_ids}
        if not wanted:
            return
        from whoosh.reading import SegmentReader

        ix = self._open()
        holding: set[str] = set()
        for seg in ix._segments():
            if not seg.has_deletions():
                continue
            reader = SegmentReader(ix.storage, ix.schema, seg)
            try:
                # A deleted document's stored fields stay readable until its segment is copied.
                if any(reader.stored_fields(doc).get("passage_id") in wanted for doc in seg.deleted_docs()):
                    holding.add(seg.segid)
            finally:
                reader.close()
        if holding:
            writer = ix.writer(limitmb=128)
            writer.commit(mergetype=_rewriting(holding))

    def rebuild(self, batches: Iterable[list[dict]], *, procs: int = 1) -> int:
        """Call under ``writer_lock``. Builds ``<index>.new`` and swaps it in.

        ``procs`` > 1 analyses in that many forked processes, each writing its own segment
        (left unmerged: searching two segments measured no slower than one). Fork only from a
        process with no other threads: the CLI ``reindex``, not the web server's writer thread."""
        new_dir = self.index_dir.with_name(self.index_dir.name + ".new")
        old_dir = self.index_dir.with_name(self.index_dir.name + ".old")
        for stale in (new_dir, old_dir):
            shutil.rmtree(stale, ignore_errors=True)
        new_dir.mkdir(parents=True)
        ix = index.create_in(str(new_dir), make_schema())
        if procs > 1:
            from ..proc import forked_children_die_with_parent

            # A killed reindex must not leave its analysers running, holding the writer lock.
            forked_children_die_with_parent()

        def new_writer():
            if procs > 1:
                return ix.writer(procs=procs, limitmb=128, multisegment=True)
            return ix.writer(limitmb=256)

        # One commit per SEGMENT_DOCS documents, none merged: segments of bounded size, so a
        # later delete rewrites one of them (``purge``), not the whole index.
        writer = new_writer()
        count = in_writer = 0
        try:
            for batch in batches:
                for doc in batch:
                    writer.add_document(**_whoosh_doc(doc))
                    count += 1
                    in_writer += 1
                if in_writer >= SEGMENT_DOCS:
                    writer.commit(merge=False)
                    writer, in_writer = new_writer(), 0
        except BaseException:
            writer.cancel()
            shutil.rmtree(new_dir, ignore_errors=True)
            raise
        writer.commit(merge=False)
        # The damage mark goes before the swap, not after: a reader that marks the new index
        # damaged the moment it is live must not have its mark erased. A reader of the old
        # index that marks it in the gap costs one more rebuild, never a lost one.
        self.damaged_path.unlink(missing_ok=True)
        if self.index_dir.exists():
            os.replace(self.index_dir, old_dir)
        os.replace(new_dir, self.index_dir)
        shutil.rmtree(old_dir, ignore_errors=True)
        self._remove_old_layout()
        return count

    def _remove_old_layout(self) -> None:
        """Index files an earlier version kept directly in INDEX_DIR (now rebuilt into live/)."""
        for path in self.root.iterdir():
            if path.is_file() and (path.suffix in {".toc", ".seg", ".pst", ".trm", ".fln", ".lnd"}
                                   or path.name.endswith("_WRITELOCK")):
                path.unlink(missing_ok=True)

    # ---- reading

    def passage_ids(self) -> set[int]:
        return self._retrying(self._passage_ids)

    def _passage_ids(self) -> set[int]:
        ix = self._open()
        with ix.searcher() as s:
            return {int(fields_["passage_id"]) for fields_ in s.all_stored_fields()}

    def matching_passage_ids(self, q: SearchQuery, study_ids: Iterable[int], limit: int = 100_000) -> list[int]:
        return self._retrying(self._matching, q, study_ids, limit)

    def _matching(self, q: SearchQuery, study_ids: Iterable[int], limit: int) -> list[int]:
        allowed = {int(i) for i in study_ids}
        if not allowed:
            return []
        ix = self._open()
        with ix.searcher() as s:
            access = self._filter(s, ix.latest_generation(), allowed, self._facet_clause(q))
            if nothing_readable(access):
                return []
            # No words: every passage the filters leave (tag all results of a filtered list).
            parsed = self._parse(s, q.text.strip()) if q.text.strip() else query.Every()
            docs = sorted(d for d in s.docs_for_query(parsed) if access is ALL or d in access)[:limit]
            # The passage id is a stored field; reading it doc by doc is fine at this scale.
            return sorted(int(s.stored_fields(d)["passage_id"]) for d in docs)

    def _parse(self, searcher, text: str) -> query.Query:
        """The typed query, parsed over the searchable fields and checked for cost."""
        if len(text) > MAX_QUERY_CHARS:
            raise QueryRejected(f"A search can be at most {MAX_QUERY_CHARS} characters long; shorten it.")
        schema = searcher.schema
        parser = qparser.QueryParser("text", fields.Schema(**{name: schema[name] for name in SEARCHABLE}))
        parser.add_plugin(qparser.FuzzyTermPlugin())
        try:
            parsed = parser.parse(text)
        except Exception:  # noqa: BLE001 - the parser is forgiving; this is a last resort
            raise QueryRejected("That search could not be read; check its quotes, brackets and field names.") from None
        return check_cost(parsed, searcher.reader())

    def doc_count(self) -> int:
        return self._open().doc_count()

    def _facet_clause(self, q: SearchQuery) -> query.Query | None:
        """Facet and date filters as one query (None when there are none)."""
        parts: list[query.Query] = []
        for name, values in sorted(q.filters.items()):
            if name not in FACETS or not values:
                continue
            field = FACETS[name][0]
            parts.append(query.Or([query.Term(field, str(v)) for v in sorted(values)]) if len(values) > 1
                         else query.Term(field, str(values[0])))
        if q.date_from or q.date_to:
            start = datetime.combine(q.date_from, datetime.min.time()) if q.date_from else None
            end = datetime.combine(q.date_to, datetime.max.time()) if q.date_to else None
            parts.append(query.DateRange("date", start, end))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else query.And(parts)

    def _filter(self, searcher, generation: int, allowed: set[int], clause: query.Query | None):
        """The documents a search may return, as a set of document numbers: those of the
        studies the user may read, narrowed by the facet and date filters. ``ALL`` only when
        every indexed document is readable and nothing narrows it; an empty set when nothing
        is (a caller must then return nothing: Whoosh reads an empty filter as no filter).
        Cached per index generation, as search engines cache filter bitsets: a filter value
        (a service, a channel) matches tens of thousands of passages, and intersecting its
        postings with the query's, in Python, cost more than the query."""
        indexed = {int(t) for t in searcher.reader().field_terms("study")}
        wanted = indexed & allowed
        if not wanted:
            return set()
        if wanted == indexed and clause is None:
            return ALL
        key = (generation, frozenset(wanted), repr(clause))
        found = self._filters.get(key)
        if found is None:
            parts = [] if wanted == indexed else [query.Or([query.Term("study", str(i)) for i in sorted(wanted)])]
            if clause is not None:
                parts.append(clause)
            found = set(searcher.docs_for_query(parts[0] if len(parts) == 1 else query.And(parts)))
            if len(self._filters) >= 64:
                self._filters.pop(next(iter(self._filters)))  # the oldest
            self._filters[key] = found
        return found

    def _segments_readable(self) -> bool:
        """A fresh open of the index reads its segments (one stored document is enough)."""
        try:
            with self._open().reader() as reader:
                next(iter(reader.all_stored_fields()), None)
            return True
        except Exception:  # noqa: BLE001 - any failure here means the index is not whole
            return False

    def _retrying(self, fn, *args):
        """Run a read; a commit can delete the segment files of the generation a reader just
        opened (merges), or a rebuild can swap the directory. Opening the index again then
        finds the new generation. Files still missing after that, or a segment that cannot
        be read, mark the index damaged: the index writer rebuilds it from the database, and
        until then searches answer that it is being rebuilt (never a 500, never for ever)."""
        for attempt in range(4):
            damage = None
            # Whoosh leaves a damaged segment's files open as it fails (and as it retries):
            # they close when its frames are freed, with the close's warning silenced.
            with _quiet_leaks() as state:
                try:
                    return fn(*args)
                except FileNotFoundError:
                    if attempt == 3:
                        # Merges can outrun a few retries under load; damaged only if a fresh
                        # open cannot read every segment either.
                        if self._segments_readable():
                            raise IndexUnavailable("The search index is being rewritten; try again.") from None
                        damage = "FileNotFoundError"
                except IndexUnavailable:
                    if self.index_dir.is_dir():
                        self.mark_damaged("unreadable")
                    raise
                except _DAMAGE as exc:
                    damage = type(exc).__name__
                state["failed"] = damage is not None
            if damage is not None:
                self.mark_damaged(damage)
                raise IndexUnavailable("The search index is damaged; it is being rebuilt from the database.")
            time.sleep(0.05 * (attempt + 1))

    def search(self, q: SearchQuery, study_ids: Iterable[int]) -> SearchResults:
        return self._retrying(self._search, q, study_ids)

    def more_like_this(self, passage_id: int, study_ids: Iterable[int], limit: int = 5) -> list[Hit]:
        return self._retrying(self._more_like_this, passage_id, study_ids, limit)

    def _search(self, q: SearchQuery, study_ids: Iterable[int]) -> SearchResults:
        allowed = {int(i) for i in study_ids}
        if not allowed:
            return SearchResults(0, 1, 1, [], [])
        ix = self._open()
        with ix.searcher() as s:
            clause = self._facet_clause(q)
            access = self._filter(s, ix.latest_generation(), allowed, clause)
            if nothing_readable(access):
                return self._nothing(q)
            text = q.text.strip()
            parsed = self._parse(s, text) if text else query.Every()
            groupedby = None
            if q.facets:
                groupedby = sorting.Facets()
                reader = s.reader()
                for name, (field, _label, multi) in FACETS.items():
                    # A multi-valued facet walks every document; skip it while nothing has that field.
                    if multi and next(iter(reader.field_terms(field)), None) is None:
                        continue
                    groupedby.add_facet(name, sorting.FieldFacet(field, allow_overlap=multi, maptype=sorting.Count))
            sortedby = sorting.FieldFacet("date", reverse=True) if q.sort == "date" else None
            page = max(q.page, 1)
            if page * q.per_page > MAX_RESULT_DEPTH:
                raise QueryRejected(f"Results are listed up to the first {MAX_RESULT_DEPTH:,}; narrow the search "
                                    "with words or filters, or sort by date.")
            # With no words, walk the filter's postings rather than every document.
            combined = query.ConstantScoreQuery(clause, 0.0) if clause is not None and isinstance(
                parsed, query.Every) else parsed
            # Block-quality skipping finds the top 10 of one term without scoring every match,
            # and counting that term's matches afterwards only reads its posting ids. For any
            # other query, the count would run the whole query a second time: score and count
            # in one pass instead.
            one_term = isinstance(combined, query.Term) and groupedby is None and sortedby is None
            collector = s.collector(limit=page * q.per_page, filter=access, groupedby=groupedby,
                                    sortedby=sortedby, terms=False, optimize=one_term)
            timed = collectors.TimeLimitCollector(collector, timelimit=self.time_limit, use_alarm=False)
            try:
                s.search_with_collector(combined, timed)
            except collectors.TimeLimit:
                raise QueryRejected(f"This search ran past its {self.time_limit:g}-second limit and was stopped; "
                                    "add words, filters or a shorter date range.") from None
            results = ResultsPage(timed.results(), page, q.per_page)
            inner = results.results
            inner.fragmenter = highlight.ContextFragmenter(maxchars=320, surround=80)
            inner.formatter = highlight.HtmlFormatter(tagname="mark", classname="rr-hit", between=" … ")
            hits = [self._hit(h) for h in results]
            facets = []
            if groupedby is not None:
                for name, (_field, label, _multi) in FACETS.items():
                    counts = inner.groups(name) if name in groupedby.names() else {}
                    values = sorted(((str(k), v) for k, v in counts.items() if k not in (None, "")),
                                    key=lambda kv: (-kv[1], kv[0]))
                    facets.append(Facet(name, label, [FacetValue(k, v) for k, v in values[:20]]))
            suggestion = self._suggest(s, parsed, text, access) if text and len(results) == 0 else None
            total = len(results)
            return SearchResults(total, page, max(results.pagecount, 1), hits, facets, suggestion)

    @staticmethod
    def _nothing(q: SearchQuery) -> SearchResults:
        facets = [Facet(name, label, []) for name, (_f, label, _m) in FACETS.items()] if q.facets else []
        return SearchResults(0, max(q.page, 1), 1, [], facets)

    @staticmethod
    def _suggest(searcher, parsed: query.Query, text: str, access) -> str | None:
        """"Did you mean": the query's words that no readable document has, each replaced by
        the closest word that one has."""
        corrector = ScopedCorrector(searcher, access)
        wrong = {word for field, word in parsed.iter_all_terms()
                 if field == "text" and isinstance(word, str) and not corrector.has(word)}
        if not wrong:
            return None
        out, last, changed = [], 0, False
        for token in searcher.schema["text"].analyzer(text, chars=True, mode="query"):
            word = token.text
            # Short words are corrected into noise ("ssn" to "so"): at least 4 letters, and one
            # edit below 6 letters, as spelling checkers do.
            if word in wrong and len(word) >= 4 and not any(ch.isdigit() for ch in word):
                better = corrector.suggest(word, limit=1, maxdist=1 if len(word) < 6 else 2, prefix=FUZZY_PREFIX)
                if better:
                    out += [text[last:token.startchar], better[0]]
                    last, changed = token.endchar, True
        return "".join(out) + text[last:] if changed else None

    def _hit(self, hit) -> Hit:
        stored = hit.fields()
        snippet = hit.highlights("text", top=3)
        if not snippet:
            body = stored.get("text", "")
            snippet = html.escape(body[:300] + ("…" if len(body) > 300 else ""))
        when = stored.get("date")
        return Hit(
            passage_id=int(stored["passage_id"]), source_id=int(stored["source_id"]), study_id=int(stored["study"]),
            title=stored.get("title", ""), speaker=stored.get("speaker"), snippet_html=snippet,
            score=float(hit.score or 0.0), date=when.date().isoformat() if when else None,
        )

    def _more_like_this(self, passage_id: int, study_ids: Iterable[int], limit: int = 5) -> list[Hit]:
        allowed = {int(i) for i in study_ids}
        if not allowed:
            return []
        ix = self._open()
        with ix.searcher() as s:
            docnum = s.document_number(passage_id=str(passage_id))
            if docnum is None or int(s.stored_fields(docnum)["study"]) not in allowed:
                return []
            access = self._filter(s, ix.latest_generation(), allowed, None)
            if nothing_readable(access):
                return []
            # Enough key terms that a passage made of rare words still finds its neighbours.
            results = s.more_like(docnum, "text", top=limit, numterms=15, filter=access)
            results.formatter = highlight.HtmlFormatter(tagname="mark", classname="rr-hit", between=" … ")
            return [self._hit(h) for h in results]
