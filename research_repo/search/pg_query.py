"""The query language on PostgreSQL: the same grammar as on Whoosh, compiled to SQL.

A search is parsed by Whoosh's query parser, the one grammar users are taught (words joined by
AND, ``OR``, ``NOT``, quotes for phrases, ``annu*``, ``an?uity``, ``anuity~1``, ``speaker:P1``,
ranges, brackets), then checked by ``whoosh_query.check_shape`` as on Whoosh, and the tree is
compiled here to a PostgreSQL condition. Compiling the tree, rather than handing the typed text
to ``websearch_to_tsquery``, keeps the meaning: that function reads ``a NOT b`` as a AND b,
drops the ``*`` of ``prefix*`` and reads ``speaker:P1`` as two words.

Words are stemmed and stop words dropped by PostgreSQL's ``english`` configuration
(``plainto_tsquery``/``phraseto_tsquery``), as the stored ``tsvector`` was made. Patterns
(prefixes, wildcards, fuzzy words, ranges of words) expand against ``search_word``, the index's
own words, with the same limit as on Whoosh; a prefix then runs as a tsquery prefix (``'annu':*``).
Every value travels as a bound parameter; no typed text is ever spliced into SQL.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from whoosh import fields, qparser, query
from whoosh.analysis import LowercaseFilter, RegexTokenizer

from .types import FACETS, MAX_EXPANDED_TERMS, MAX_QUERY_CHARS, QueryRejected
from .whoosh_query import SEARCHABLE, TOO_MANY_WORDS, check_shape

CONFIG = "english"  # the text search configuration: English stop words and Snowball stemming

# Facet name (as typed: speaker:P1) -> column of search_document, and whether it is an array.
COLUMNS: dict[str, tuple[str, bool]] = {
    "study": ("study_id::text", False), "service": ("service", False), "kind": ("kind", False),
    "speaker": ("speaker", False), "channel": ("channel", False), "stage": ("stage", False),
    "segment": ("segment", False), "year": ("year", False), "quarter": ("quarter", False),
    "tag": ("tags", True), "theme": ("themes", True), "driver": ("drivers", True),
}


def _parse_schema() -> fields.Schema:
    """The fields a query may name, as the Whoosh index has them, except that words are only
    split and lower-cased here: PostgreSQL stems them, as it stemmed the documents."""
    made = {"text": fields.TEXT(analyzer=RegexTokenizer() | LowercaseFilter())}
    for name in SEARCHABLE:
        if name == "text":
            continue
        multi = any(f == name and m for f, _label, m in FACETS.values())
        made[name] = fields.KEYWORD(commas=True, lowercase=False) if multi else fields.ID()
    return fields.Schema(**made)


_SCHEMA = _parse_schema()


def parse(text: str) -> query.Query:
    if len(text) > MAX_QUERY_CHARS:
        raise QueryRejected(f"A search can be at most {MAX_QUERY_CHARS} characters long; shorten it.")
    # PostgreSQL text cannot hold NUL, and a NUL is no part of a word: it separates, as a space.
    text = text.replace("\x00", " ")
    parser = qparser.QueryParser("text", _SCHEMA)
    parser.add_plugin(qparser.FuzzyTermPlugin())
    try:
        parsed = parser.parse(text)
    except Exception:  # noqa: BLE001 - the parser is forgiving; this is a last resort
        raise QueryRejected("That search could not be read; check its quotes, brackets and field names.") from None
    check_shape(parsed)
    return parsed


@dataclass
class Compiled:
    """A SQL condition on ``search_document`` (``cond``), the tsquery that ranks and highlights
    its hits (``rank``, None when no word of the search is looked for), and the bound values."""

    cond: str
    rank: str | None
    params: dict = field(default_factory=dict)


@dataclass
class _Part:
    cond: str
    ts: str | None = None  # the part as one tsquery, when it is made of words only
    positive: list[str] = field(default_factory=list)  # tsqueries of words looked for (not under NOT)


STEM = "SELECT (ts_lexize('english_stem', :w))[1]"  # a word as the index holds it (NULL: a stop word)


def like_escape(text: str) -> str:
    """``text`` taken literally in a LIKE pattern (with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def any_of(lexemes) -> str:
    """A ``to_tsquery('simple', ...)`` input matching any of these index words, each quoted."""
    return " | ".join("'" + w.replace("'", "''").replace("\\", "\\\\") + "'" for w in lexemes)


def near_words(rows, stem: str, maxdist: int, keep: int) -> list[tuple[int, int, str]]:
    """Index words within ``maxdist`` edits of ``stem`` that share its first ``keep`` letters, as
    (distance, -documents, word), nearest and then most frequent first. ``rows(sql, params)``
    runs a query on ``search_word``."""
    found = rows("SELECT word, documents FROM search_word WHERE word LIKE :start ESCAPE '\\' "
                 "AND length(word) BETWEEN :lo AND :hi",
                 {"start": like_escape(stem[:keep]) + "%", "lo": len(stem) - maxdist, "hi": len(stem) + maxdist})
    near = ((edit_distance(stem, w, maxdist), -n, w) for w, n in found)
    return sorted(item for item in near if item[0] <= maxdist)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once it is over ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


class Compiler:
    """Compiles one parsed query; ``words`` reads ``search_word`` (a callable taking SQL and
    parameters and returning rows), for patterns."""

    def __init__(self, words) -> None:
        self._words = words
        self.params: dict = {}

    def _bind(self, value) -> str:
        name = f"q{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def compile(self, parsed: query.Query) -> Compiled:
        part = self._node(parsed)
        rank = " || ".join(part.positive) if part.positive else None
        return Compiled(part.cond, f"({rank})" if rank else None, self.params)

    # ---- words

    def _ts(self, ts: str) -> _Part:
        return _Part(f"words @@ {ts}", ts, [ts])

    def _lexemes(self, found: list[str]) -> _Part:
        """A tsquery of words taken from the index (already stemmed): any of them."""
        if not found:
            return _Part("FALSE")
        return self._ts(f"to_tsquery('simple', {self._bind(any_of(found))})")

    def _expand(self, sql: str, **params) -> list[str]:
        rows = self._words(sql + f" LIMIT {MAX_EXPANDED_TERMS + 1}", params)
        found = [r[0] for r in rows]
        if len(found) > MAX_EXPANDED_TERMS:
            raise QueryRejected(TOO_MANY_WORDS)
        return found

    @staticmethod
    def _like(pattern: str) -> str:
        return like_escape(pattern).replace("*", "%").replace("?", "_")

    def _text_leaf(self, node: query.Query) -> _Part:
        if isinstance(node, query.Phrase):
            return self._ts(f"phraseto_tsquery('{CONFIG}', {self._bind(' '.join(node.words))})")
        if isinstance(node, query.FuzzyTerm):
            stem = self._words(STEM, {"w": node.text})[0][0] or node.text
            found = [w for _d, _n, w in near_words(self._words, stem, node.maxdist, max(node.prefixlength, 1))]
            if len(found) > MAX_EXPANDED_TERMS:
                raise QueryRejected(TOO_MANY_WORDS)
            return self._lexemes(found)
        if isinstance(node, query.Prefix):
            self._expand("SELECT word FROM search_word WHERE word LIKE :p ESCAPE '\\'", p=self._like(node.text) + "%")
            return self._prefix(node.text)
        if isinstance(node, query.Wildcard):
            pattern = node.text
            if pattern.endswith("*") and not any(ch in "*?" for ch in pattern[:-1]):
                return self._text_leaf(query.Prefix("text", pattern[:-1]))
            return self._lexemes(self._expand("SELECT word FROM search_word WHERE word LIKE :p ESCAPE '\\'",
                                              p=self._like(pattern)))
        if isinstance(node, query.TermRange):
            return self._lexemes(self._expand(
                "SELECT word FROM search_word WHERE word >= :a AND word <= :b ORDER BY word",
                a=str(node.start), b=str(node.end)))
        if isinstance(node, query.Term):
            return self._ts(f"plainto_tsquery('{CONFIG}', {self._bind(str(node.text))})")
        raise QueryRejected("That search could not be read; check its quotes, brackets and field names.")

    def _prefix(self, prefix: str) -> _Part:
        cleaned = "".join(ch for ch in prefix.lower() if ch.isalnum())
        if not cleaned:
            return _Part("FALSE")
        return self._ts(f"to_tsquery('simple', {self._bind(cleaned + ':*')})")

    # ---- fields (speaker:P1, tag:"Pay/Interim pay")

    def _field_leaf(self, node: query.Query) -> _Part:
        column, multi = COLUMNS[node.field()]
        if isinstance(node, query.Term):
            value = self._bind(str(node.text))
            return _Part(f"{value} = ANY({column})" if multi else f"{column} = {value}")
        if isinstance(node, (query.Prefix, query.Wildcard)):
            pattern = self._bind(self._like(node.text + ("*" if isinstance(node, query.Prefix) else "")))
            return _Part(f"EXISTS (SELECT 1 FROM unnest({column}) v WHERE v LIKE {pattern} ESCAPE '\\')" if multi
                         else f"{column} LIKE {pattern} ESCAPE '\\'")
        if isinstance(node, query.TermRange):
            lo, hi = self._bind(str(node.start)), self._bind(str(node.end))
            return _Part(f"EXISTS (SELECT 1 FROM unnest({column}) v WHERE v BETWEEN {lo} AND {hi})" if multi
                         else f"{column} BETWEEN {lo} AND {hi}")
        if isinstance(node, query.Phrase):  # a quoted value of a field: the whole value
            return self._field_leaf(query.Term(node.field(), " ".join(node.words)))
        raise QueryRejected("That search could not be read; check its quotes, brackets and field names.")

    # ---- the tree

    def _node(self, node: query.Query) -> _Part:
        if isinstance(node, type(query.NullQuery)):
            return _Part("FALSE")
        if isinstance(node, query.Every):
            return _Part("TRUE")
        if isinstance(node, query.WrappingQuery):  # a boost or a constant score: only ranks
            return self._node(node.child)
        if isinstance(node, query.Not):
            inner = self._node(node.query)
            if inner.ts:
                return _Part(f"words @@ !!{inner.ts}", f"!!{inner.ts}")
            return _Part(f"NOT ({inner.cond})")
        if isinstance(node, query.AndNot):
            return self._node(query.And([node.a, query.Not(node.b)]))
        if isinstance(node, query.AndMaybe):  # b only ranks: the hits are a's
            a, b = self._node(node.a), self._node(node.b)
            return _Part(a.cond, None, a.positive + b.positive)
        if isinstance(node, (query.And, query.Or)):
            parts = [self._node(child) for child in node.subqueries]
            if not parts:
                return _Part("TRUE" if isinstance(node, query.And) else "FALSE")
            positive = [p for part in parts for p in part.positive]
            joiner_ts, joiner_sql = (" && ", " AND ") if isinstance(node, query.And) else (" || ", " OR ")
            if all(p.ts for p in parts):
                ts = "(" + joiner_ts.join(p.ts for p in parts) + ")"
                return _Part(f"words @@ {ts}", ts, positive)
            return _Part("(" + joiner_sql.join(p.cond for p in parts) + ")", None, positive)
        if node.is_leaf():
            if node.field() == "text":
                return self._text_leaf(node)
            if node.field() in COLUMNS:
                return self._field_leaf(node)
        raise QueryRejected("That search could not be read; check its quotes, brackets and field names.")
