"""Places smaller than a state, named in context: "moved here from Fortaleza",
"I'm in Hernani", "the Denver office". Countries and US states are not identifiers."""
from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from .lexicon import load
from .spans import Kind, Span

_CONTEXT = re.compile(
    r"(?i:\b(?:in|from|near|to|at|outside|around|visit(?:ed|ing)?|live[sd]?\s+in|living\s+in|moved\s+(?:here\s+)?(?:to|from)|"
    r"based\s+in|born\s+in|grew\s+up\s+in|city\s+of|town\s+of|village\s+of|county\s+of)\s+)"
    # A joining word ("Stratford upon Avon", "Rio de Janeiro") only between two capitalized
    # words, and only as a whole word: "Tulsa and back" is not "Tulsa an" + "d back".
    r"(?P<place>[A-ZÀ-ÖØ-ÞĀ-Ž][\wÀ-ÿĀ-ž'’-]+(?:[ \t](?:(?:de|del|da|do|la|le|am|an|im|upon|on|sur)[ \t])?"
    r"[A-ZÀ-ÖØ-ÞĀ-Ž][\wÀ-ÿĀ-ž'’-]+){0,3})"
)
# The last word of an organization's name: "at Allstate Insurance Group", "for Civic Impulse LLC".
_ORG_END = re.compile(
    r"(?i)\b(?:inc|incorporated|llc|ltd|corp|corporation|company|co|group|holdings|partners|associates|solutions|"
    r"technologies|systems|software|services|consulting|research|analytics|insurance|bank|global|international|"
    r"foundation|institute|university|college|hospital|labs?|media|tv|network|agency)\.?$"
)
_NOT_PLACES = frozenset(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday christmas easter thanksgiving english spanish".split()
)


@functools.lru_cache(maxsize=1)
def large_regions() -> frozenset[str]:
    """Country and US state names (ISO 3166), lower-cased: too large to identify anyone."""
    import pycountry

    names = {"united states", "united states of america", "usa", "us", "america", "europe", "asia", "africa"}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                names.add(value.lower())
    names.update(s.name.lower() for s in pycountry.subdivisions.get(country_code="US"))
    return frozenset(names)


class PlaceDetector:
    name, kind, score = "place", Kind.LOCATION, 0.7

    def find(self, text: str) -> Iterator[Span]:
        lex = load()
        regions = large_regions()
        for m in _CONTEXT.finditer(text):
            place = re.split(r"['’]s\b", m.group("place"))[0]  # "from Yefremova's Cautionary Tales"
            words = place.split()
            if not words:
                continue
            first = words[0].lower()
            # A common word ("the", "Order", "Person") is not a place; a rare capitalized one may be.
            if first in _NOT_PLACES or place.lower() in regions or first in regions or _ORG_END.search(place):
                continue
            if len(words) == 1 and place.isupper() and len(place) <= 4:
                continue  # an acronym: "at the ATM", "from HR"
            if len(words) == 1 and lex.zipf_of(first) >= 4.3:
                continue
            if all(lex.zipf_of(w.lower()) >= 4.6 for w in words):
                continue
            yield Span(m.start("place"), m.start("place") + len(place), self.kind, self.name, self.score)
