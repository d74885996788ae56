"""Whoosh queries as the back end runs them: refused when too costly before they run (``check_cost``: clause counts, fuzzy edits, wildcard prefixes, and
how many words a pattern expands to), and "did you mean" drawn only from readable documents."""
from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from whoosh import query, spelling

from .types import (
    FACETS, FUZZY_PREFIX, MAX_EXPANDED_TERMS, MAX_FUZZY_EDITS, MAX_QUERY_CLAUSES, MIN_WILDCARD_PREFIX, QueryRejected,
)


# "Every indexed document may be returned": the one scope that is not a set of document numbers.
ALL = None


def nothing_readable(scope) -> bool:
    return scope is not ALL and not scope


class ScopedCorrector(spelling.Corrector):
    """Spelling suggestions from the words of the documents a search may return, never from
    the rest of the index: a word that only another study uses is no suggestion, and its
    frequency elsewhere does not rank one. At most ``budget`` candidate words are checked."""

    def __init__(self, searcher, scope, budget: int = 200) -> None:
        self.searcher = searcher
        self.scope = scope
        self.budget = budget

    def _readable_ids(self, word: str):
        try:
            ids = self.searcher.postings("text", word).all_ids()
        except Exception:  # noqa: BLE001 - a term absent from the index (TermNotFound)
            return iter(())
        return (d for d in ids if d in self.scope)

    def count(self, word: str) -> int:
        if self.scope is ALL:
            return self.searcher.reader().doc_frequency("text", word)
        return sum(1 for _ in self._readable_ids(word))

    def has(self, word: str) -> bool:
        """Whether a readable document has the word (stops at the first)."""
        if self.scope is ALL:
            return self.searcher.reader().doc_frequency("text", word) > 0
        return next(self._readable_ids(word), None) is not None

    def _suggestions(self, text: str, maxdist: int, prefix: int):
        """Nearer words first (one edit before two), then the more frequent among readable ones."""
        reader, seen, checked = self.searcher.reader(), set(), 0
        for distance in range(1, maxdist + 1):
            for word in reader.terms_within("text", text, distance, prefix=prefix):
                if word in seen:
                    continue
                seen.add(word)
                checked += 1
                if checked > self.budget:
                    return
                found = self.count(word)
                if found:
                    yield -(distance + 0.5 / found), word


# The fields a query may name (``speaker:P1``); any other ``name:`` is read as words. Stored-only
# and internal fields (title, ids, date) are not searchable: dates come from the date filters.
SEARCHABLE = ("text", *dict.fromkeys(field for field, _label, _multi in FACETS.values()))


def _walk(q: query.Query) -> Iterator[query.Query]:
    yield q
    for child in q.children():
        yield from _walk(child)


def check_shape(parsed: query.Query) -> None:
    """The checks that need no index, the same on every back end: fuzzy words beyond 2 edits,
    wildcards without a 2-letter start, ranges open at an end, more than MAX_QUERY_CLAUSES
    clauses. Fuzzy words keep their first letter."""
    clauses = 0
    for node in _walk(parsed):
        if isinstance(node, query.FuzzyTerm):
            if node.maxdist > MAX_FUZZY_EDITS:
                raise QueryRejected(f"A fuzzy word allows at most {MAX_FUZZY_EDITS} changed letters: write "
                                    f"word~1 or word~2.")
            node.prefixlength = max(node.prefixlength, FUZZY_PREFIX)
        elif isinstance(node, (query.Wildcard, query.Prefix)):
            pattern = node.text
            start = len(pattern) if isinstance(node, query.Prefix) else min(
                (i for i, ch in enumerate(pattern) if ch in "*?"), default=len(pattern))
            # Words need two letters before the pattern; a field's values (P1, P2) one.
            if start < (MIN_WILDCARD_PREFIX if node.field() == "text" else 1):
                raise QueryRejected(f"Start a word with * or ? with at least {MIN_WILDCARD_PREFIX} letters "
                                    "(annu* rather than *nuity).")
        elif isinstance(node, query.RangeMixin):
            if node.start is None or node.end is None:
                raise QueryRejected("A range needs both ends ([2021 TO 2023]); for dates, use the date filters.")
        if node.is_leaf():
            clauses += 1
    if clauses > MAX_QUERY_CLAUSES:
        raise QueryRejected(f"This search has more than {MAX_QUERY_CLAUSES} words and patterns; shorten it.")


TOO_MANY_WORDS = (f"A pattern in this search stands for more than {MAX_EXPANDED_TERMS:,} words; "
                  "add letters to it or use a shorter range.")


def check_cost(parsed: query.Query, reader) -> query.Query:
    """Refuse what would make one search stall the server, with a message that says what to
    change: ``check_shape``, and any word pattern that stands for more than MAX_EXPANDED_TERMS
    words."""
    check_shape(parsed)
    expanded: dict[int, list] = {}
    for node in _walk(parsed):
        if isinstance(node, query.MultiTerm) and node.field() in reader.schema.names():
            words = list(islice(node._btexts(reader), MAX_EXPANDED_TERMS + 1))
            if len(words) > MAX_EXPANDED_TERMS:
                raise QueryRejected(TOO_MANY_WORDS)
            expanded[id(node)] = words

    # Patterns become the words they stand for once, not again for every highlighted hit.
    def expand(node: query.Query) -> query.Query:
        words = expanded.get(id(node))
        if words is None:
            return node
        field = reader.schema[node.field()]
        terms = [query.Term(node.field(), field.from_bytes(w) if isinstance(w, bytes) else w, boost=node.boost)
                 for w in words]
        return query.NullQuery if not terms else terms[0] if len(terms) == 1 else query.Or(terms)

    return parsed.accept(expand)
