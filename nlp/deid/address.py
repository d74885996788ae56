"""Street addresses as whole blocks: a street line, then the unit, city, region, country
and postcode lines or comma-separated parts that follow it."""
from __future__ import annotations

import re
from collections.abc import Iterator

from .patterns import StreetAddressDetector
from .spans import Kind, Span

_CAP = r"[A-ZÀ-ÖØ-ÞĀ-ŽΑ-ΩА-Я∆]"
_WORD = r"[\wÀ-ÿĀ-žΑ-ωА-я∆'’.-]+"
_PARTICLES = r"(?:de|del|della|di|da|do|dos|du|des|la|le|les|van|von|der|den|het|y|e|of|the|and|ul\.|al\.)"
# A house number, then one to six words that begin with a capital (or are particles), then
# maybe a second number: "3247 Rua Igreja 25", "24 Clarke Avenue", "9383 ul. Chrzanowskiego 4".
_NUMBERED = re.compile(
    r"(?<![\w./-])\d{1,6}[A-Za-z]?(?:[ \t]+\d{1,5})?(?:[ \t]+(?:" + _PARTICLES + r"|" + _CAP + _WORD + r")){1,6}(?:[ \t]+\d{1,5}[A-Za-z]?)?(?![\w-])"
)
# After an address cue, a street line in any case: "lives at 255 hersnapvej 18".
_CUED = re.compile(
    r"(?i:\b(?:lives? at|living at|address(?:[ \t]+(?:of|for|linked to)[ \t]+[^.,;:?!\n]{1,40}?[ \t]+(?:is|to)\b|[ \t]+is|(?![ \t]+(?:of|for|linked)\b)):?|located at|drops you off at|sent to|send it to|deliver(?:ed)? to|"
    r"is on|enter on|at the corner of)\s+)"
    r"(?P<a>(?!(?i:to|the|a|an|at|on|in|is|of|for|from|and)\b)(?:\d{1,6}[A-Za-z]?[ \t]+){0,2}(?:[A-Z]\.[ \t]?)?" + _WORD + r"(?:[ \t]+" + _WORD + r"){0,5}?[ \t]+\d{1,5}[A-Za-z]?\.?)(?![\w-])"
)
# A street name then a number, on a line of its own: "Mellemvej 32", "Kaevu 94".
_NAME_NUMBER_LINE = re.compile(r"(?m)^[ \t>?*]*(?P<a>" + _CAP + _WORD + r"(?:[ \t]+" + _WORD + r"){0,3}[ \t]+\d{1,5}[A-Za-z]?)[ \t]*$")
_MILITARY = re.compile(
    r"(?i)\b(?:psc|unit|cmr)[ \t]+\d{3,5},?[ \t]+box[ \t]+\d{1,5}|\b(?:uss|usns|usnv|uscgc)[ \t]+\w+(?:[ \t]+\w+)?"
    r"|\b(?:apo|fpo|dpo)[ \t]+(?:aa|ae|ap)[ \t]+\d{5}"
)
# "the corner of X and Y": each street up to five words, ending where the sentence goes on
# ("..., near the bakery", "... because it rained").
_CORNER_STOP = r"(?:and|because|near|when|where|which|who|while|since|after|before|but|so|then|in|on|at|to|for|is|was|it|we|i|they|you|with)\b"
_CORNER_STREET = r"(?:(?!" + _CORNER_STOP + r")[^\s,.;:?!{}]+\.?)(?:[ \t]+(?!" + _CORNER_STOP + r")[^\s,.;:?!{}]+\.?){0,4}"
_CORNER = re.compile(r"(?i)\bthe corner of[ \t]+" + _CORNER_STREET + r"[ \t]+and[ \t]+" + _CORNER_STREET)
_UNIT_LINE = re.compile(r"(?i)^(?:apt\.?|apartment|suite|ste\.?|unit|floor|fl\.?|room|rm\.?|building|bldg\.?|#)\s*[\w-]{1,8}\b")
_PLACE_PART = re.compile(
    r"^(?:,\s*)?(?:(?:" + _CAP + r"[\wÀ-ÿĀ-žΑ-ωА-я'’.()-]*|" + _PARTICLES + r"|\(?\w+\)?|[A-Z]{2}|\d{3,6}(?:[ -]?\d{2,4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d)[ \t,]*){1,6}$"
)
_PREFIX = re.compile(r"^[ \t>?*]*")
_SENTENCE_BREAK = re.compile(r"[a-z]{2}[.?!][ \t]+[A-Z]")
_HEADLINE = re.compile(r"\b(?:Of|The|And|For|To|In|With)[ \t]+(?:Of|The|And|For|To|In|With|A|An)\b")
# The place words up to where a sentence ends: "Hungary 18695" of "Hungary 18695? I am in".
_SENTENCE_END = re.compile(r"^(.{2,48}?)[.?!;:]+(?:[ \t]|$)")
_POSTCODE_HEAD = re.compile(r"^((?:" + _CAP + _WORD + r"[ \t]+){0,3}\d{3,6}(?:[ -]\d{2,4})?)(?![\w-])")
_ENDS_WITH_UNIT = re.compile(r"(?i)\b(?:apt\.?|apartment|suite|ste\.?|unit)[ \t]*#?\d[\w-]{0,7}$")
# One to three capitalized words after a unit, on the same line: the city and country.
_CITY_AFTER_UNIT = re.compile(r"[ \t]+" + _CAP + _WORD + r"(?:[ \t]+" + _CAP + _WORD + r"){0,2}")


def _place_like(part: str) -> bool:
    part = part.strip()
    if not part or len(part) > 48 or part.count(" ") > 5:
        return False
    if re.search(r"[.?!:;]\s|[?!:;]$|\b(?:is|are|was|the|and|for|you|please)\b", part, re.IGNORECASE) and not re.match(r"(?i)^(apt|suite|ste)\.", part):
        return False
    return bool(_UNIT_LINE.match(part) or _PLACE_PART.match(part) or part.lower() == "nan")


class AddressBlockDetector:
    name, kind, score = "address_block", Kind.ADDRESS, 0.85

    def __init__(self) -> None:
        self._street = StreetAddressDetector()

    def _anchors(self, text: str) -> Iterator[tuple[int, int]]:
        for span in self._street.find(text):
            yield span.start, span.end
        for m in _NUMBERED.finditer(text):
            words = m.group().split()
            # "3 Times" or "2020 Annual Report" are not addresses: want a street-like shape,
            # i.e. a second number, or a line of its own, or a unit/place after it.
            rest = text[m.end():m.end() + 40]
            at_line_start = text[:m.start()].rstrip(" \t>?*").endswith("\n") or m.start() == 0 or text[:m.start()].rstrip().endswith(":")
            if _HEADLINE.search(m.group()):
                continue  # "5 Musicians Of The 70s" is a title, not a street
            if re.search(r"\d", " ".join(words[1:])) or at_line_start or re.match(r"\s*(?:\n|,\s*" + _CAP + r"|,?\s*(?:apt|suite|unit)\b)", rest, re.IGNORECASE):
                if len(words) >= 2:
                    yield m.start(), m.end()
        for m in _NAME_NUMBER_LINE.finditer(text):
            following = text[m.end():m.end() + 60].lstrip("\n")
            first = _PREFIX.sub("", following.split("\n", 1)[0])
            if _place_like(first):
                yield m.start("a"), m.end("a")
        for m in _CUED.finditer(text):
            # Not across a sentence end: "... is on the weekend. I'll turn 81."
            if not _SENTENCE_BREAK.search(m.group("a")):
                yield m.start("a"), m.end("a")
        for m in _MILITARY.finditer(text):
            yield m.start(), m.end()
        for m in _CORNER.finditer(text):
            # The whole phrase becomes the pseudonym ("It's in [ADDRESS_1]"), as the Presidio
            # set annotates it.
            yield m.start(), m.end()

    def _extend(self, text: str, end: int) -> int:
        # Same line: ", Suite 263, Montealegre del Castillo, Spain 49079"
        after_unit = bool(_ENDS_WITH_UNIT.search(text, max(0, end - 24), end))
        while True:
            m = re.match(r",?[ \t]*([^,\n]{1,48})", text[end:])
            if not m or text[end:end + 1] not in ", \t":
                break
            part = m.group(1)
            if text[end:end + 1] in " \t":
                # A space continues only into a unit ("... 25 Apt. 864"), and after a unit into
                # the city and country ("Suite 215 NUNGATTA Australia").
                unit = _UNIT_LINE.match(part.strip())
                if unit:
                    end += m.start(1) + unit.end()
                    after_unit = True
                    continue
                city = _CITY_AFTER_UNIT.match(text, end) if after_unit else None
                if city:
                    end = city.end()
                break
            if not _place_like(part):
                break
            end += m.end()
            after_unit = False
        # Following lines: unit, city, ", CO", "Uruguay 64677"; one blank line allowed. The last
        # may end the sentence: "... Hungary 18695? I am in Rohod".
        lines = 0
        while lines < 5:
            m = re.match(r"[ \t]*\n(?:[ \t>?*]*\n)?([ \t>?*]*)([^\n]*)", text[end:])
            if not m:
                break
            line = m.group(2).rstrip()
            if _place_like(line):
                end += m.start(2) + len(line)
                lines += 1
                continue
            head = _SENTENCE_END.match(line)
            if not (head and _place_like(head.group(1))):
                head = _POSTCODE_HEAD.match(line)  # "Netherlands 62971 in case of an issue"
            if head:
                end += m.start(2) + len(head.group(1))
            break
        return end

    def find(self, text: str) -> Iterator[Span]:
        for start, end in self._anchors(text):
            yield Span(start, self._extend(text, end), self.kind, self.name, self.score)
