"""The de-identifier: run the detectors, settle overlaps, apply the allow-list and the
roster, spread names found once to every mention, and replace with consistent pseudonyms."""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.base import BaseEstimator

from .lexicon import TITLES, load
from .offsets import replace
from .detectors import Detector, default_detectors
from .places import large_regions
from .person import PersonTagger, tokenize
from .spans import Kind, Span, resolve_overlaps

def _federal_terms() -> frozenset[str]:
    path = Path(__file__).with_name("data") / "federal_terms.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


# Agency, program and role words that are never identifiers, however they are written
# (data/federal_terms.txt).
DEFAULT_ALLOW = _federal_terms()
# Federal form numbers: "SF-50", "SF 2801", "Standard Form 2801", "RI 92-19", "OPM Form 1496".
# A span of a kind a form number can look like that overlaps one is not an identifier ("Section 3 of the Standard Form
# 2801" is not an address).
FORM_NUMBER = re.compile(
    r"\b(?:(?:SF|OF|RI|FE|DD|VA|SSA|OPM|CSA|USCIS)[ -]?(?:Form[ -]?)?|(?:Standard|Optional|OPM) Form[ -]?|Form[ -])"
    r"\d{1,4}(?:-\d{1,4})?[A-Z]?\b"
)
FORM_LOOKALIKES = frozenset({Kind.ADDRESS, Kind.ZIP, Kind.PHONE, Kind.PERSON, Kind.LOCATION, Kind.ID})
ROLE_LABEL = re.compile(r"^(?:moderator|interviewer|facilitator|note[ -]?taker|participant|respondent|speaker|"
                        r"p\d+|r\d+|agent|customer|caller|unknown|inaudible|crosstalk|bot|chatbot|assistant|system)\b", re.IGNORECASE)
# Form fields that look like speaker labels ("E-mail:", "Fax:", "ZIP:"): never a person.
FIELD_LABEL = re.compile(r"^(?:e-?mail|fax|zip|tel|phone|mobile|cell|address|desk|help ?desk|iban|number|"
                         r"subject|date|time|re|cc|bcc|to|from|channel|category|segment|follow[ -]?up|topic|status|"
                         r"priority|type|outcome|resolution|summary|notes?|agenda|attendees|present|absent|stage|"
                         r"journey stage|service|program|product|issue|question|answer|comment|reason|source|"
                         r"action items?|next steps?|ticket|case|record)$", re.IGNORECASE)
SPEAKER_LINE = re.compile(r"(?m)^[ \t>]*(?:\[[\d:.]+\]\s*)?(?P<name>[A-Za-zÀ-ÿĀ-ž][\w'’.-]*(?:[ \t][A-Za-zÀ-ÿĀ-ž][\w'’.-]*){0,2})[ \t]*:")


MIDDLE_INITIAL = re.compile(r"[ \t]+[A-Z]\.?[ \t]+(?P<surname>[A-Z][^\W\d_]+(?:[-'’][A-Z]?[^\W\d_]+)?)(?![\w@])")
NAME_SUFFIX = re.compile(r",?[ \t]+(?:Jr\.?|Sr\.?|II|III|IV)(?![\w])")
STATE_AFTER = re.compile(r"[ \t]*,[ \t]*([A-Z]{2}|[A-Z][a-z]+(?:[ \t][A-Z][a-z]+)?)(?=[ \t]+\d)")
# Honorifics that belong to the name they precede ("Dr. Helen Park", "Mrs. Okafor"): the span
# takes them in. Kinship and job words ("her daughter Ana", "agent Lee") stay outside.
HONORIFICS = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "rev", "reverend", "sgt", "capt", "lt",
              "col", "maj", "gen", "adm", "hon", "sen", "rep", "gov", "judge", "fr")
TITLE_BEFORE = re.compile(r"(?i:\b(?:" + "|".join(sorted(HONORIFICS, key=len, reverse=True)) + r"))\.?[ \t]+$")
POSTCODE_AFTER = re.compile(r"[ \t]*,?[ \t]*(\d{4,5}|\d{3} \d{2}|\d{2}-\d{3})(?![\w-])")


def _norm(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).casefold()
    return " ".join(w for w in re.findall(r"[^\W_]+", value) if w.rstrip(".") not in TITLES)


class Roster:
    """Known participant names for a study, kept only as keyed hashes.

    ``Roster.from_names(key, names)`` hashes each name and each of its parts; the clear
    names are not kept. ``find`` hashes every one- to three-word window of a text.
    """

    def __init__(self, key: bytes, digests: Iterable[str] = ()) -> None:
        self._key = key
        self.digests = frozenset(digests)

    def digest(self, value: str) -> str:
        return hmac.new(self._key, _norm(value).encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_names(cls, key: bytes, names: Iterable[str]) -> Roster:
        roster = cls(key)
        digests = set()
        for name in names:
            digests.add(roster.digest(name))
            digests.update(roster.digest(part) for part in _norm(name).split() if len(part) > 1)
        return cls(key, digests)

    def find(self, text: str) -> list[Span]:
        toks = [t for t in tokenize(text) if t[2][0].isalnum()]
        spans = []
        for size in (3, 2, 1):
            for i in range(len(toks) - size + 1):
                window = toks[i : i + size]
                if self.digest(" ".join(t[2] for t in window)) in self.digests:
                    spans.append(Span(window[0][0], window[-1][1], Kind.PERSON, "roster", 1.0))
        return spans


@dataclass
class Replacement:
    """Where a pseudonym replaced an identifier: offsets in the input and in the output."""

    kind: Kind
    start: int
    end: int
    new_start: int
    new_end: int
    pseudonym: str


@dataclass
class Result:
    text: str
    replacements: list[Replacement] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.kind.value for r in self.replacements))

    def summary(self) -> dict:
        """Counts by kind and offsets of replacements in the output; never a replaced value."""
        return {
            "counts": self.counts,
            "replacements": [[r.kind.value, r.new_start, r.new_end] for r in self.replacements],
        }


class Pseudonyms:
    """Numbers each distinct identifier per kind: every mention of one person is [PERSON_1].
    A later single name ("Maria") that is part of an earlier full name gets the same number."""

    def __init__(self) -> None:
        self._by_kind: dict[Kind, dict[str, int]] = {}

    def label(self, kind: Kind, value: str) -> str:
        table = self._by_kind.setdefault(kind, {})
        key = _norm(value) if kind is Kind.PERSON else re.sub(r"\W", "", value.casefold())
        if key not in table and kind is Kind.PERSON and key:
            words = set(key.split())
            matches = {number for known, number in table.items()
                       if words <= set(known.split()) or set(known.split()) <= words}
            # One earlier person it fits: the same one. Two ("Maria Alvarez" and "José
            # Alvarez", then "Mr. Alvarez"): nobody can tell which, so a number of its own
            # rather than the first one's.
            if len(matches) == 1:
                table[key] = matches.pop()
        if key not in table:
            table[key] = len(set(table.values())) + 1
        return f"[{kind.value}_{table[key]}]"


_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+)([^\W\d_])")


def _normally_cased(text: str) -> bool:
    """Whether the writer capitalizes sentences (most sentence starts are capitals)."""
    starts = [m.group(1) for m in _SENTENCE_START.finditer(text)]
    return bool(starts) and sum(c.isupper() for c in starts) * 2 >= len(starts) and not text.isupper()


def _short(text: str) -> bool:
    """A search query, a label or a cell: a few words, no sentence."""
    return len(text.split()) <= 6 and not re.search(r"[.!?](?:\s|$)", text)


# Words of the closed classes (pronouns, articles, conjunctions, greetings): never a name,
# wherever they stand and however they are written ("He said", "THEY").
CLOSED_CLASS = frozenset(
    "i me my mine we us our ours you your yours he him his she her hers it its they them their theirs this that these "
    "those the a an and or but nor if then so yes no not ok okay hi hello hey thanks thank please sorry who whom whose "
    "which what when where why how there here".split()
)
# Kinship and household words: "her son", "Grandson called", "the widow".
KINSHIP = frozenset(
    "son sons daughter daughters wife husband spouse mother father mom dad parent parents grandson granddaughter "
    "grandmother grandfather grandma grandpa grandchild grandchildren niece nephew brother sister aunt uncle cousin "
    "widow widower stepson stepdaughter fiance fiancee caregiver guardian neighbor friend coworker supervisor".split()
)
MONTHS = frozenset("january february march april may june july august september october november december".split())
TEMPORAL = re.compile(r"(?i)\b(?:in|on|since|until|till|by|from|through|before|after|last|next|this|early|late|mid|"
                      r"during|of|and|or|to)[ \t,]*$")
PARTICLES = frozenset("de del della di da do dos das van von der den la le du bin ibn al el y".split())
SENTENCE_END = ".!?:;\n\u2022"
OPENERS = " \t\"'“‘(["
STRONG = 0.5  # tagger probability above which a sentence-initial ordinary word still counts as a name


def _at_sentence_start(text: str, pos: int) -> bool:
    i = pos
    while i > 0 and text[i - 1] in OPENERS:  # look back without copying the text before
        i -= 1
    return i == 0 or text[i - 1] in SENTENCE_END or text[i - 1] == "\u2014" or text[max(0, i - 2):i] == "--"


def _not_a_name(text: str, span: Span, cased: bool, prose: bool) -> bool:
    """One word the tagger called a name that is not: a closed-class word, a lone title
    ("Mr" before a name the tagger also found), or an ordinary English word capitalized only
    because it starts a sentence ("Retirees complained.", "Call back tomorrow.", "Letters
    arrived late."), unless the tagger is sure or the word is a common first name ("Will",
    "Grant") or a frequent surname ("Smith")."""
    value = text[span.start:span.end]
    if " " in value or "\n" in value:
        return False
    word = value.lower().rstrip(".")
    if word in CLOSED_CLASS or word in TITLES or word in KINSHIP or len(word) == 1:
        return True  # a lone initial is joined to the name beside it, or is not one ("Part B")
    if word in MONTHS and (TEMPORAL.search(text, max(0, span.start - 12), span.start)
                           or re.match(r"[ \t,]*(?:\d|and\b|or\b)", text[span.end:span.end + 6], re.IGNORECASE)):
        return True  # "in April, May and June", "May 3": a month
    if word in large_regions() and re.search(r",[ \t]*$", text[:span.start]):
        return True  # ", Virginia 22150": a state in an address, not the first name
    lex = load()
    first, last = lex.first_rank.get(word, 10**6), lex.last_rank.get(word, 10**6)
    if value.isupper() and 2 <= len(value) <= 5 and first > 2000 and span.score < STRONG and prose:
        return True  # an acronym in ordinary prose ("SSN", "DFAS", "RI"): names are not written so
    if not (value[:1].isupper() and value[1:].islower()) or span.score >= STRONG or first <= 1000:
        return False
    if not (cased and _at_sentence_start(text, span.start)):
        return False
    zipf = lex.zipf_of(word)
    return (zipf >= 4.5 and last > 500) or (zipf >= 4.0 and last > 5000)


def _prose(text: str, cased: bool) -> bool:
    """Text whose writer capitalizes sentences and rarely writes whole words in capitals."""
    words = re.findall(r"[^\W\d_]{2,}", text)
    caps = sum(w.isupper() for w in words)
    return cased and bool(words) and caps <= max(2, 0.15 * len(words))


def _trim_lowercase_ends(text: str, span: Span, cased: bool) -> Span:
    """In text whose writer capitalizes names, a common lower-case word at either end of a
    name the tagger found is not part of it ("Harold Brooks retired"); a name particle
    ("de", "van") or a rare word ("bieber") stays."""
    value = text[span.start:span.end]
    if " " not in value or not cased:
        return span
    lex = load()

    def ordinary(word: str) -> bool:  # a common word that no one much has as a name ("retired", not "bieber")
        return (word.islower() and word not in PARTICLES and lex.zipf_of(word) >= 4.0
                and lex.first_rank.get(word, 10**6) > 2000 and lex.last_rank.get(word, 10**6) > 10_000)

    words = value.split(" ")
    start, end = span.start, span.end
    while len(words) > 1 and ordinary(words[-1]):
        end -= len(words[-1]) + 1
        words.pop()
    while len(words) > 1 and ordinary(words[0]):
        start += len(words[0]) + 1
        words.pop(0)
    return span if (start, end) == (span.start, span.end) else Span(start, end, span.kind, span.detector, span.score)


def _ends_region(text: str, span: Span) -> bool:
    """The name is the last word(s) of a country's or state's name ("United Kingdom",
    "Czech Republic", "New Hampshire"): the words before it complete the region."""
    before = re.findall(r"[A-Za-z]+", text[max(0, span.start - 40):span.start])
    value = text[span.start:span.end].lower()
    regions = large_regions()
    return any(" ".join([*before[-k:], value]).lower() in regions for k in (1, 2, 3) if len(before) >= k)


def _trim_ordinary_start(text: str, span: Span, cased: bool) -> Span:
    """"Reach Tom at ...": a sentence's first word, capitalized by position and an ordinary
    word, is not part of the name the tagger found after it."""
    value = text[span.start:span.end]
    first, _, rest = value.partition(" ")
    if not rest or span.score >= STRONG or not _at_sentence_start(text, span.start) or not first.istitle():
        return span
    lex = load()
    word = first.lower()
    if (lex.zipf_of(word) >= 4.5 and lex.first_rank.get(word, 10**6) > 1000 and lex.last_rank.get(word, 10**6) > 500
            and cased):
        start = span.start + len(first) + 1
        return Span(start, span.end, span.kind, span.detector, span.score)
    return span


def _join_hyphenated(text: str, spans: list[Span]) -> list[Span]:
    """Parts of one hyphenated name are one span: "Mary" + "-" + "Kate Olsen" + "-" +
    "Smith" is "Mary-Kate Olsen-Smith", one person, not three."""
    out: list[Span] = []
    for s in spans:
        prev = out[-1] if out else None
        if (prev is not None and prev.kind is Kind.PERSON and s.kind is Kind.PERSON
                and text[prev.end:s.start] == "-"):
            out[-1] = Span(prev.start, s.end, Kind.PERSON, prev.detector, max(prev.score, s.score))
        else:
            out.append(s)
    return out


def _by_line(text: str, spans: Iterable[Span]) -> list[Span]:
    """A name never runs across a line break: names listed one per line (attendees, a
    transcript's turns) are separate spans, and the line breaks stay."""
    out = []
    for s in spans:
        if "\n" not in text[s.start:s.end]:
            out.append(s)
            continue
        pos = s.start
        for line in text[s.start:s.end].split("\n"):
            stripped = line.strip()
            if stripped:
                start = pos + line.index(stripped)
                out.append(Span(start, start + len(stripped), s.kind, s.detector, s.score))
            pos += len(line) + 1
    return out


def _plain_words(value: str, common: float = 0.0) -> bool:
    """Lower-case ordinary English words that no name list holds ("antelope", "riff"): in text
    whose writer capitalizes sentences, or in a query or label ("annuity"), such a word is not
    a name. Unknown words ("krillin") and words that are names too ("rick", "mason") stay the
    tagger's call."""
    if not value.islower():
        return False
    lex = load()
    # A very common word ("read", "church") is plain even though someone has it as a surname.
    return all(lex.zipf_of(w) > common and w not in lex.first_rank
               and (w not in lex.last_rank or lex.zipf_of(w) >= 5.0) for w in value.split())


class Deidentifier(BaseEstimator):
    """Find identifiers and replace them with consistent pseudonyms.

    Parameters
    ----------
    kinds : iterable of Kind or None
        The kinds to look for; None means all.
    allow : iterable of str
        Terms never redacted (agency and program names); added to ``DEFAULT_ALLOW``.
    roster : Roster or None
        Known participant names (keyed hashes) that are always redacted.
    person_threshold : float
        Probability above which the tagger calls a word part of a name.
    propagate : bool
        Redact every other mention of a name found anywhere in the same text.
    detectors : list of Detector or None
        The detectors to run (``nlp.deid.detectors``); None means ``default_detectors()``.
        Those of a kind not in ``kinds`` are skipped.
    """

    def __init__(self, kinds=None, allow=(), roster: Roster | None = None, person_threshold: float = 0.032,
                 propagate: bool = True, detectors=None) -> None:
        self.kinds = kinds
        self.allow = allow
        self.roster = roster
        self.person_threshold = person_threshold
        self.propagate = propagate
        self.detectors = detectors

    def fit(self, X=None, y=None) -> Deidentifier:
        """Load the detectors and the person model (once; no learning happens here)."""
        load()
        self.kinds_ = frozenset(self.kinds) if self.kinds is not None else frozenset(Kind)
        self.allow_ = DEFAULT_ALLOW | {a.lower() for a in self.allow}
        terms = sorted(self.allow_, key=len, reverse=True)
        self.allow_re_ = re.compile(r"(?<![\w.])(?:" + "|".join(map(re.escape, terms)) + r")(?![\w])", re.IGNORECASE)
        chosen = default_detectors() if self.detectors is None else list(self.detectors)
        for detector in chosen:
            if not isinstance(detector, Detector):
                raise TypeError(f"{detector!r} is not a detector: it needs a name, a kind and find(text)")
        self.detectors_ = [d for d in chosen if d.kind in self.kinds_]
        self.tagger_ = PersonTagger(threshold=self.person_threshold).load() if Kind.PERSON in self.kinds_ else None
        return self

    def _check(self) -> None:
        if not hasattr(self, "detectors_"):
            self.fit()

    def find(self, text: str, names: Iterable[str] = (), *, roster: Roster | None = None,
             keep: Iterable[str] = (), drop: Iterable[tuple[int, int]] = (), add: Iterable[Span] = ()) -> list[Span]:
        """Identifier spans in ``text``, non-overlapping and sorted.

        ``names`` are persons known to appear in this text (a transcript's speaker labels, a
        ticket's requester column): every mention of them, or of their uncommon parts, is a span.
        """
        self._check()
        spans: list[Span] = self._known_names(text, names) if self.tagger_ is not None else []
        for detector in self.detectors_:
            spans.extend(detector.find(text))
        if self.tagger_ is not None:
            # How common a word must be to count as ordinary: any English word in capitalized
            # text; in a query or label, only common ones (not "zoltan": zipf 2.4).
            # What the whole text says about its writer's casing, worked out once, not per span.
            cased = _normally_cased(text)
            prose = _prose(text, cased)
            common = 0.0 if cased else 3.0 if _short(text) else None
            found = [_trim_ordinary_start(text, _trim_lowercase_ends(text, s, cased), cased)
                     for s in self.tagger_.find(text)]
            for s in _by_line(text, found):
                value = text[s.start:s.end]
                if not (self._region(value) or _ends_region(text, s) or (common is not None and _plain_words(value, common))
                        or _not_a_name(text, s, cased, prose)):
                    spans.append(s)
            spans.extend(self._speaker_labels(text))
            for known in (self.roster, roster):
                if known is not None:
                    spans.extend(known.find(text))
        # Not an allowed term, nor a piece of one in the text ("Login" of "Login.gov").
        allowed = [m.span() for m in self.allow_re_.finditer(text)]
        # A study's own never-redact terms ("Grace period", a program's name), for this call.
        for term in {" ".join(k.split()) for k in keep if k and k.strip()}:
            allowed += [m.span() for m in re.finditer(r"(?<![\w])" + re.escape(term) + r"(?![\w])", text, re.IGNORECASE)]
        forms = [m.span() for m in FORM_NUMBER.finditer(text)]
        def permitted(found: list[Span]) -> list[Span]:
            return [s for s in found if not self._allowed(text[s.start:s.end])
                    and not any(a <= s.start and s.end <= b for a, b in allowed)
                    and not (s.kind in FORM_LOOKALIKES and any(s.start < b and a < s.end for a, b in forms))]

        spans = resolve_overlaps(permitted(spans))
        if Kind.ZIP in self.kinds_:
            spans = resolve_overlaps(spans + self._postcodes_after_places(text, spans))
        if self.propagate and self.tagger_ is not None:
            # Spreading a name stops at allowed terms too ("grace" is a name; "Grace period" is kept).
            spans = resolve_overlaps(spans + permitted(self._other_mentions(text, spans)))
        if self.tagger_ is not None:
            spans = resolve_overlaps(spans + self._initials_and_suffixes(text, spans))
            spans = _join_hyphenated(text, spans)
        # A person's decisions on a preview: spans they rejected, and what they added.
        dropped = set(drop)
        if dropped or add:
            spans = resolve_overlaps([s for s in spans if (s.start, s.end) not in dropped] + list(add))
        return spans

    @staticmethod
    def _initials_and_suffixes(text: str, spans: list[Span]) -> list[Span]:
        """A name's honorific before it ("Mrs. Okafor"), its middle initial and what follows it:
        "Faina D. Yefremova", "Maja S Hermansen" (the surname when it is not a common word),
        and "Kevin Veitonen II"."""
        lex = load()
        persons = [s for s in spans if s.kind is Kind.PERSON]
        starts = {s.start for s in persons}
        found = []
        for s in persons:
            start, end = s.start, s.end
            title = TITLE_BEFORE.search(text, max(0, start - 14), start)
            if title:
                start = title.start()
            m = MIDDLE_INITIAL.match(text, end)
            if m and (lex.zipf_of(m.group("surname").lower()) < 4.0 or m.start("surname") in starts):
                end = m.end()
            suffix = NAME_SUFFIX.match(text, end)
            if suffix:
                end = suffix.end()
            if end > s.end or start < s.start:
                found.append(Span(start, end, Kind.PERSON, s.detector, s.score))
        return found

    @staticmethod
    def _postcodes_after_places(text: str, spans: list[Span]) -> list[Span]:
        """A postcode right after a city or address: "in Bjert 6091", "ÖVERTURINGEN 840 24"."""
        found = []
        for s in spans:
            if s.kind in (Kind.LOCATION, Kind.ADDRESS):
                end = s.end
                # ", Virginia 22150" or ", CT 06355": a state between the place and its postcode.
                state = STATE_AFTER.match(text, end)
                if state and (state.group(1).lower() in large_regions() or state.group(1).isupper()):
                    end = state.end()
                m = POSTCODE_AFTER.match(text, end)
                if m:
                    found.append(Span(m.start(1), m.end(1), Kind.ZIP, "postcode_after_place", 0.8))
        return found

    @staticmethod
    def _region(value: str) -> bool:
        """A country or US state the tagger took for a name ("from Norway"), unless it is a
        common first name too ("Georgia", "Virginia")."""
        v = value.lower()
        return v in large_regions() and load().first_rank.get(v, 10**6) > 1000

    def _allowed(self, value: str) -> bool:
        value = value.strip().lower()
        return value in self.allow_ or all(w in self.allow_ for w in re.findall(r"[\w.-]+", value))

    def _speaker_labels(self, text: str) -> list[Span]:
        spans = []
        lex = load()
        for m in SPEAKER_LINE.finditer(text):
            name = m.group("name")
            if ROLE_LABEL.match(name) or FIELD_LABEL.match(name) or self._allowed(name):
                continue
            words = name.split()
            # "Maria:" or "MARIA ALVAREZ:" is a name; "Note:" or "Subject:" is not.
            if all(lex.zipf_of(w.lower()) < 4.5 or w.lower() in lex.first_rank for w in words):
                spans.append(Span(m.start("name"), m.end("name"), Kind.PERSON, "speaker_label", 0.9))
        return spans

    def _known_names(self, text: str, names: Iterable[str]) -> list[Span]:
        lex = load()
        found = []
        for name in names:
            name = " ".join(name.split())
            if not name or self._allowed(name) or ROLE_LABEL.match(name):
                continue
            patterns = [(name, re.IGNORECASE)]
            for part in re.findall(r"[^\W\d_]{2,}", name):
                if part.rstrip(".").lower() in TITLES or self._allowed(part):
                    continue
                # A common word that is also a name ("Will", "Hope") only counts when capitalized.
                common = lex.zipf_of(part.lower()) >= 4.0
                patterns.append((part[0].upper() + part[1:] if common else part, 0 if common else re.IGNORECASE))
            for value, flags in patterns:
                for m in re.finditer(r"(?<![\w@])" + re.escape(value) + r"(?!\w)", text, flags):
                    found.append(Span(m.start(), m.end(), Kind.PERSON, "known_name", 1.0))
        return found

    def _other_mentions(self, text: str, spans: list[Span]) -> list[Span]:
        lex = load()
        names, capitalized = set(), set()
        for s in spans:
            if s.kind is Kind.PERSON:
                value = text[s.start:s.end]
                if " " not in value and lex.zipf_of(value.lower()) >= 4.0:
                    capitalized.add(value[0].upper() + value[1:].lower())
                else:
                    names.add(value)
                # Parts of a full name are names too ("Maria Alvarez" ... later "Alvarez"),
                # unless they are common words ("Will", "Grant").
                for part in re.findall(r"[^\W\d_]{3,}", value):
                    if lex.zipf_of(part.lower()) < 4.0:
                        names.add(part)
                    elif part.lower() in lex.first_rank:
                        # A common word that is also a first name ("Will") spreads only capitalized.
                        capitalized.add(part[0].upper() + part[1:].lower())
        found = []
        for name, flags in [(n, re.IGNORECASE) for n in names] + [(n, 0) for n in capitalized - names]:
            for m in re.finditer(r"(?<![\w@])" + re.escape(name) + r"(?!\w)", text, flags):
                found.append(Span(m.start(), m.end(), Kind.PERSON, "propagated", 0.8))
        return found

    def deidentify(self, text: str, pseudonyms: Pseudonyms | None = None, names: Iterable[str] = (), *,
                   roster: Roster | None = None, keep: Iterable[str] = (), drop: Iterable[tuple[int, int]] = (),
                   add: Iterable[Span] = ()) -> Result:
        """``text`` with every identifier replaced. ``names``: persons known to be in it (clear,
        in memory only); ``roster``: a study's participants (keyed hashes); ``keep``: a
        study's terms never to redact; ``drop`` and ``add``: a reviewer's decisions (spans
        found that are not identifiers, by offsets; spans to replace as well)."""
        pseudonyms = pseudonyms or Pseudonyms()
        names = list(names)
        for name in names:  # so "Will" and "Okafor" both become the number of "Will Okafor"
            pseudonyms.label(Kind.PERSON, name)
        spans = self.find(text, names, roster=roster, keep=keep, drop=drop, add=add)
        labels = [pseudonyms.label(span.kind, text[span.start:span.end]) for span in spans]
        new_text, edits = replace(text, [(s.start, s.end, label) for s, label in zip(spans, labels, strict=True)])
        return Result(new_text, [Replacement(s.kind, *edit, label)
                                 for s, edit, label in zip(spans, edits, labels, strict=True)])

    def transform(self, texts: Iterable[str]) -> list[str]:
        """Redacted texts; each text gets its own pseudonym numbering."""
        return [self.deidentify(t).text for t in texts]
