"""Detectors for identifiers with a shape: emails, phones, SSNs, cards, claim numbers,
labelled ids, URLs, IPs, street addresses, ZIP codes, dates of birth, high ages."""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from .spans import Kind, Span

_TRAIL = ".,;:!?)]}'\"»”’"


class PatternDetector:
    """One compiled pattern; subclasses may validate or trim each match.

    ``groups`` names the capture groups that can hold the value, for patterns whose
    alternatives capture it in different places; the first that matched is used.
    """

    name = "pattern"
    kind: Kind
    pattern: re.Pattern
    score = 0.9
    groups: tuple[int | str, ...] = (0,)

    def find(self, text: str) -> Iterator[Span]:
        for match in self.pattern.finditer(text):
            group = next((g for g in self.groups if match.group(g) is not None), None)
            if group is None:
                continue
            start, end = match.span(group)
            if start == end or not self.accept(match.group(group), match):
                continue
            yield Span(start, end, self.kind, self.name, self.score)

    def accept(self, value: str, match: re.Match) -> bool:
        return True


class EmailDetector(PatternDetector):
    name, kind, score = "email", Kind.EMAIL, 0.99
    pattern = re.compile(r"(?<![\w.+-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")


class URLDetector(PatternDetector):
    name, kind, score = "url", Kind.URL, 0.95
    _tlds = (
        "com|org|net|gov|edu|mil|int|info|biz|io|co|us|uk|ca|au|de|fr|es|it|nl|be|ch|at|se|no|dk|fi|ee|lv|lt|pl|"
        "cz|sk|hu|ro|bg|gr|cy|pt|ie|is|ru|ua|jp|cn|in|br|mx|ar|cl|nz|za|me|tv|ly|app|dev|ai|gl"
    )
    pattern = re.compile(
        r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"']+"
        r"|\b(?<![@\w.-])[A-Za-z0-9][\w-]*(?:\.[\w-]+)*\.(?:" + _tlds + r")(?:\.[a-z]{2})?(?:/[^\s<>\"']*)?\b(?![@\w-])",
        re.IGNORECASE,
    )

    def find(self, text: str) -> Iterator[Span]:
        for span in super().find(text):
            end = span.end
            while end > span.start and text[end - 1] in _TRAIL:
                end -= 1
            if end > span.start:
                yield Span(span.start, end, self.kind, self.name, self.score)

    def accept(self, value: str, match: re.Match) -> bool:
        # A bare "name.tld" needs a letter before the dot and no sentence break ("end.Then").
        if "://" in value or value.lower().startswith("www."):
            return True
        host = value.split("/", 1)[0]
        return any(c.isalpha() for c in host.split(".")[0]) and not re.search(r"\.[A-Z][a-z]", host)


class IPDetector(PatternDetector):
    name, kind, score = "ip", Kind.IP, 0.99
    pattern = re.compile(
        # A sentence may end right after it ("at 10.0.0.12."): only a dot before a digit continues it.
        r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"
        r"|(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4})*(?![\w:])"
    )

    def accept(self, value: str, match: re.Match) -> bool:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return ":" not in value or value.count(":") >= 3  # "10:30:00" is a time, not IPv6


class SSNDetector(PatternDetector):
    """SSNs and ITINs written 123-45-6789 or 123 45 6789; nine bare digits only with a label."""

    name, kind, score = "ssn", Kind.SSN, 0.97
    pattern = re.compile(
        r"(?<![\w.-])(?P<written>(?P<area>\d{3})(?P<sep>[- .])(?P<grp>\d{2})(?P=sep)(?P<serial>\d{4}))(?![\w-]|\.\d)"
        r"|(?i:\b(?:ssn|social security(?: number| no\.?| #)?|itin|taxpayer id(?:entification)?(?: number)?)"
        r"\s*(?:is|was|:|#|number)?\s*:?\s*)(?P<bare>\d{9})\b"
    )
    groups = ("written", "bare")

    def accept(self, value: str, match: re.Match) -> bool:
        # Never issued: area 000 or 666, group 00, serial 0000.
        return match.group("bare") is not None or (
            match.group("area") not in ("000", "666") and match.group("grp") != "00" and match.group("serial") != "0000"
        )


class LastFourDetector(PatternDetector):
    """The last four digits of an SSN (or of an account or card) after a cue: "SSN ending
    6789", "last four 6789", "last 4 of my social: 6789", "ending in 6789". Four digits alone
    are not enough; with the cue they point at one person."""

    name, kind, score = "last_four", Kind.SSN, 0.9
    pattern = re.compile(
        r"(?i:\b(?:last\s+(?:four|4)(?:\s+digits)?(?:\s+of\s+(?:my|his|her|their|the|your)?\s*"
        r"(?:ssn|social(?:\s+security)?(?:\s+number)?|account|card))?"
        r"|(?:ssn|social(?:\s+security)?(?:\s+number)?|account|card)\s+(?:ending|ends)(?:\s+(?:in|with))?"
        r"|ending\s+in)"
        r"\s*(?:is|was|are|were|of|:|-|#)?\s*)(?P<digits>\d{4})(?![\d-])"
    )
    groups = ("digits",)

    def find(self, text: str) -> Iterator[Span]:
        for span in super().find(text):
            cue = text[max(0, span.start - 40):span.start].lower()
            # An account's or a card's last four is an id; an SSN's (or an unnamed one's) an SSN.
            kind = Kind.ID if re.search(r"\b(?:account|card)\b", cue) and "ss" not in cue else self.kind
            yield Span(span.start, span.end, kind, self.name, self.score)


_TLD = r"(?:com|gov|org|net|edu|mil|us|io|info|biz|co|uk|ca|me)"
_AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+|\.)"


class ObfuscatedEmailDetector(PatternDetector):
    """Emails written to dodge a scraper: "jdoe at agency dot gov", "maria [at] example
    [dot] com", "maria(at)example.org". The domain must end in a known top-level domain, and
    a plain " at " needs a written "dot" too ("met him at work" is not an email)."""

    name, kind, score = "email_obfuscated", Kind.EMAIL, 0.9
    pattern = re.compile(
        r"(?i)(?<![\w.@])(?P<email>[a-z0-9][\w.+-]*" + _AT + r"[a-z0-9][\w-]*(?:" + _DOT + r"[a-z0-9][\w-]*)*?"
        + _DOT + _TLD + r")\b"
    )
    groups = ("email",)

    def accept(self, value: str, match: re.Match) -> bool:
        lowered = value.lower()
        bracketed = re.search(r"[\[({<]\s*at\s*[\])}>]", lowered)
        return bool(bracketed) or bool(re.search(r"\sdot\s|[\[({<]\s*dot", lowered))


_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_DIGIT_TOKEN = r"(?:\d{1,4}|zero|oh|one|two|three|four|five|six|seven|eight|nine|double\s+(?:\d|zero|oh|one|two|three|four|five|six|seven|eight|nine))"


class SpelledNumberDetector(PatternDetector):
    """Phone numbers and SSNs read out or spaced: "two oh two, five five five, oh one four
    three", "2 0 2 5 5 5 0 1 4 3". Ten digits (or eleven from a 1) are a phone; nine after an
    SSN cue are an SSN. At least one number word or four single-digit groups, so an ordinary
    list of numbers is not taken."""

    name, kind, score = "spelled_number", Kind.PHONE, 0.85
    pattern = re.compile(
        r"(?i)(?<![\w-])(?P<run>" + _DIGIT_TOKEN + r"(?:[\s,.-]{1,3}" + _DIGIT_TOKEN + r"){2,15})(?![\w-])"
    )
    groups = ("run",)

    @staticmethod
    def digits(value: str) -> str:
        out = []
        for token in re.findall(r"double\s+\w+|\w+", value.lower()):
            if token.startswith("double"):
                d = token.split()[-1]
                d = _DIGIT_WORDS.get(d, d)
                out.append(d * 2)
            else:
                out.append(_DIGIT_WORDS.get(token, token))
        return "".join(out)

    def find(self, text: str) -> Iterator[Span]:
        for match in self.pattern.finditer(text):
            value = match.group("run")
            tokens = re.findall(r"\w+", value.lower())
            worded = any(t in _DIGIT_WORDS or t == "double" for t in tokens)
            singles = sum(len(t) == 1 and t.isdigit() for t in tokens)
            if not worded and singles < 4:
                continue
            if worded and all(t in ("o", "oh", "one") for t in tokens if not t.isdigit()) and len(tokens) < 5:
                continue
            digits = self.digits(value)
            if not digits.isdigit():
                continue
            cue = text[max(0, match.start() - 40):match.start()].lower()
            if len(digits) == 9 and re.search(r"\b(?:ssn|social|security)\b", cue):
                yield Span(match.start("run"), match.end("run"), Kind.SSN, self.name, self.score)
            elif len(digits) == 10 or (len(digits) == 11 and digits[0] == "1") or len(digits) == 7:
                yield Span(match.start("run"), match.end("run"), self.kind, self.name, self.score)


class HandleDetector(PatternDetector):
    """Social-media handles: "@jdoe_1950", "@MariaA" (not an email's "@", not "@ 5pm", not a
    spreadsheet function such as "@SUM(A1)")."""

    name, kind, score = "handle", Kind.PERSON, 0.9
    pattern = re.compile(r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?(?![\w@(])")


class SpelledNameDetector(PatternDetector):
    """A name spelled out letter by letter after a cue: "my name is M-A-R-I-A", "spelled
    O K A F O R"."""

    name, kind, score = "spelled_name", Kind.PERSON, 0.9
    pattern = re.compile(r"(?i:\b(?:name\s+is|spelled|spelt|spell(?:s|ing)?(?:\s+it)?|that\s+is|that's)\s+)"
                         r"(?P<n>(?:[A-Z][-. ]){2,}[A-Z])(?![\w-])")
    groups = ("n",)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class CreditCardDetector(PatternDetector):
    name, kind, score = "credit_card", Kind.CREDIT_CARD, 0.98
    pattern = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")

    def accept(self, value: str, match: re.Match) -> bool:
        digits = re.sub(r"\D", "", value)
        return 13 <= len(digits) <= 19 and luhn_ok(digits)


class IBANDetector(PatternDetector):
    name, kind, score = "iban", Kind.IBAN, 0.98
    pattern = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")

    def accept(self, value: str, match: re.Match) -> bool:
        s = value.replace(" ", "")
        if not 15 <= len(s) <= 34:
            return False
        moved = s[4:] + s[:4]
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


class ClaimNumberDetector(PatternDetector):
    """OPM retirement claim numbers: CSA (annuitant) and CSF (survivor) plus seven digits."""

    name, kind, score = "claim", Kind.CLAIM, 0.99
    pattern = re.compile(r"\bCS[AF][\s#:-]{0,3}\d{7}\b", re.IGNORECASE)


# Words that introduce an account, case or document number.
_ID_LABEL = (
    r"(?:claim|case|ticket|incident|request|account|acct|member|policy|reference|ref|confirmation|application|"
    r"record|file|badge|employee|emp|emplid|staff|customer|user|order|invoice|tracking|retirement|annuitant|"
    r"card|cc|credit card|debit card|bank account|routing number|docket|"
    r"driver'?s? ?licen[cs]e|licen[cs]e|dl|passport|medicare|medicaid|insurance|routing|voter|tax|"
    r"(?:csa|csf|opm) ?claim)"
)


class LabelledIdDetector(PatternDetector):
    """A number given with a label: "case #2024-11873", "employee ID: E19384", "passport no. X1234567"."""

    name, kind, score = "labelled_id", Kind.ID, 0.9
    pattern = re.compile(
        r"\b" + _ID_LABEL + r"\b(?:\s+(?:id|number|num|no\.?|nbr|#))?\s*(?:is|was|of)?\s*[:#]?\s*"
        # The value holds a digit (looked ahead, so "retirement claim number is 7654321" is not
        # spent on "retirement claim" and tried again from "claim").
        r"(?P<id>(?=[A-Z0-9./-]*\d)[A-Z0-9](?:[A-Z0-9]|[-/.](?=[A-Z0-9])){3,24})",
        re.IGNORECASE,
    )
    groups = ("id",)

    def accept(self, value: str, match: re.Match) -> bool:
        return sum(c.isdigit() for c in value) >= 3


class ApplicationNumberDetector(PatternDetector):
    """Court and agency application numbers: "application no. 36110/97", "(nos. 33985/96 and
    33986/96)", "appeal No. 1234/05": a number, a slash and a year after "no."/"nos.", and
    every further one in the list that follows."""

    name, kind, score = "application_number", Kind.ID, 0.9
    pattern = re.compile(r"(?i)\bnos?\.?[ \t]*(?=\d{1,6}/\d{2,4}\b)")
    _number = re.compile(r"\d{1,6}/\d{2,4}\b")
    _between = re.compile(r"(?i)[ \t]*(?:,|;|and|&|,[ \t]*and)[ \t]*")

    def find(self, text: str) -> Iterator[Span]:
        for cue in self.pattern.finditer(text):
            at = cue.end()
            while (number := self._number.match(text, at)) is not None:
                yield Span(number.start(), number.end(), self.kind, self.name, self.score)
                sep = self._between.match(text, number.end())
                if sep is None:
                    break
                at = sep.end()


class PhoneDetector(PatternDetector):
    """Phone numbers: groups of digits with separators (US and international), +country
    codes, (area) codes and extensions; 7 to 15 digits in all."""

    name, kind, score = "phone", Kind.PHONE, 0.85
    pattern = re.compile(
        r"(?<![\w+/.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,12}(?:[ \t.-]{1,2}\d{1,10}){0,5}"
        r"(?:\s*(?:x|ext\.?|extension|#)\s*\d{1,6})?(?![\w/]|-\d|\.\d)"
    )

    def accept(self, value: str, match: re.Match) -> bool:
        digits = sum(c.isdigit() for c in value.split("x")[0].split("ext")[0])
        if not 7 <= digits <= 15:
            return False
        if "\n" in value or re.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}", value):
            return False  # dates
        if re.fullmatch(r"\+?\d+", value):
            # Bare digits: a US number of 10, an international one with +, or a label before it.
            label = re.search(r"(?i)(?:phone|tel|mobile|cell|fax|desk|call|text|whatsapp)\W{0,3}$", match.string[max(0, match.start() - 12):match.start()])
            return len(value) == 10 or value.startswith("+") or (label is not None and 7 <= len(value) <= 13)
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+", value):
            return False  # amounts
        return True


_STREET_TYPES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|way|terrace|ter|"
    r"circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|pike|alley|row|loop|path|plaza|walk|"
    r"summit|pass|crossing|xing|ridge|hill|hills|park|point|pt|run|view|gardens|grove|heights|"
    r"rue|via|calle|strasse|straße|gasse|vej|katu|tie|weg|laan|plein|gata|gatan|vägen|põik"
)
_UNIT = r"(?:apt\.?|apartment|suite|ste\.?|unit|floor|fl\.?|room|rm\.?|#)\s*[A-Z0-9-]{1,6}"


class StreetAddressDetector(PatternDetector):
    """A house number with a street name and type ("24 Clarke Avenue", "6185 Pfarrgasse 91"),
    optionally followed by a unit; PO boxes; and units on their own ("Suite 464")."""

    name, kind, score = "street_address", Kind.ADDRESS, 0.85
    pattern = re.compile(
        r"(?<![/.])\b\d{1,6}[A-Za-z]?(?:[ \t]+[A-Za-zÀ-ÿĀ-ž'’.-]+){0,4}[ \t]+(?:" + _STREET_TYPES + r")\b\.?"
        r"(?:[ \t]+\d{1,5}[A-Za-z]?\b)?(?:,?[ \t]*" + _UNIT + r")?"
        r"|\b(?:[A-ZÀ-ÿĀ-ž][\wÀ-ÿĀ-ž'’-]*[ \t]){0,3}[A-ZÀ-ÿĀ-ž][\wÀ-ÿĀ-ž'’-]*(?:" + _STREET_TYPES + r")[ \t]+\d{1,5}[A-Za-z]?\b"
        r"(?:,?[ \t]*" + _UNIT + r")?"
        r"|\bp\.?[ \t]?o\.?[ \t]?box[ \t]+\d{1,7}\b"
        r"|\b(?:apt\.?|apartment|suite|ste\.?|unit)[ \t]*#?[ \t]*\d{1,6}[A-Z]?\b",
        re.IGNORECASE,
    )

    def accept(self, value: str, match: re.Match) -> bool:
        # "Pfarrgasse 91" and "Bayview 3" glue the street type to the name; "Interview 3" and
        # "Overview 2" are common words that only end like one.
        from .lexicon import load

        first = value.split()[0]
        if not first[0].isdigit() and not re.match(r"(?i)p\.?[ \t]?o\.?[ \t]?box|apt|apartment|suite|ste|unit", value):
            # A name glued to a street type before the number ("Pfarrgasse 91"), not a common
            # word that only ends like one ("Need to see last 10": "la" + "st").
            glued = re.search(r"([^\W\d_][\w'’-]*)[ \t]+\d", value)
            if glued and not re.fullmatch(_STREET_TYPES, glued.group(1), re.IGNORECASE) and \
                    load().zipf_of(glued.group(1).lower()) >= 3.5:
                return False
        if first[0].isdigit() or len(value.split()) > 2:
            return True
        return load().zipf_of(first.lower()) < 3.5


class ZipDetector(PatternDetector):
    """US ZIP and ZIP+4 after a state name or code, or given with a label."""

    name, kind, score = "zip", Kind.ZIP, 0.85
    pattern = re.compile(
        r"\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI|S[CD]|T[NX]|"
        r"UT|V[AT]|W[AIVY]|PR|GU|VI),?\s+(?P<zip>\d{5}(?:-\d{4})?)\b"
        # With a label, any country's shape: "394 13", "53-320", "7412 SL", "SW1A 1AA".
        r"|(?i:\b(?:zip|zip code|postal code|postcode|post code)\s*(?:is|:)?\s*)"
        r"(?P<labelled>(?=[A-Z0-9 -]*\d)[A-Z0-9]{2,5}(?:[ -][A-Z0-9]{2,4})?)\b"
    )
    groups = ("zip", "labelled")


_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|" + _MONTHS + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTHS + r"\.?,?\s+\d{4}|" + _MONTHS + r"\.?\s+\d{4})"
)


class PersonalDateDetector(PatternDetector):
    """Dates tied to a person: birth, death, marriage, retirement, separation, application."""

    name, kind, score = "personal_date", Kind.DATE, 0.9
    pattern = re.compile(
        r"\b(?:born|birth|birthday|dob|d\.o\.b\.?|died|death|deceased|passed away|married|marriage|divorced|"
        r"retired|retirement date|separat(?:ed|ion)|applied|application date|hired|date of)\b"
        r"[^.\n\d]{0,24}?(?P<date>" + _DATE + r"|(?<=\b)(?:\d{6}|\d{8})\b)",
        re.IGNORECASE,
    )
    groups = ("date",)


class FullDateDetector(PatternDetector):
    """Dates given to the day ("1/23/1984", "2000-04-16", "March 3, 1931"). In interview notes
    and tickets these are a person's dates (birth, call, claim); a year or weekday alone is not."""

    name, kind, score = "full_date", Kind.DATE, 0.8
    pattern = re.compile(
        r"(?<![\w/.-])(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d{2}|(?:19|20)\d{2}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?"
        r"|" + _MONTHS + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{2}"
        r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTHS + r"\.?,?\s+(?:19|20)\d{2})(?![\w/-])",
        re.IGNORECASE,
    )

    def accept(self, value: str, match: re.Match) -> bool:
        parts = re.split(r"[/.-]", value)
        if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[0]) <= 2:
            a, b = int(parts[0]), int(parts[1])
            return 1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12
        return True


class HighAgeDetector(PatternDetector):
    """Ages over 89, which identify on their own (HIPAA safe harbor)."""

    name, kind, score = "age", Kind.AGE, 0.9
    pattern = re.compile(
        r"\b(?:age[ds]?|aged)\s*:?\s*(?P<a>\d{2,3})\b|\b(?P<b>\d{2,3})[ -](?:years?|yrs?)[ -]old\b|\bturn(?:ed|s|ing)? (?P<c>\d{2,3})\b",
        re.IGNORECASE,
    )

    groups = ("a", "b", "c")

    def accept(self, value: str, match: re.Match) -> bool:
        return 89 < int(value) < 130


# StreetAddressDetector is not listed: AddressBlockDetector runs it as an anchor and
# returns each street line extended into its block.
PATTERN_DETECTORS: tuple[type[PatternDetector], ...] = (
    EmailDetector, ObfuscatedEmailDetector, URLDetector, IPDetector, SSNDetector, LastFourDetector,
    SpelledNumberDetector, HandleDetector, SpelledNameDetector, CreditCardDetector, IBANDetector,
    ClaimNumberDetector, LabelledIdDetector, ApplicationNumberDetector, PhoneDetector, ZipDetector,
    PersonalDateDetector, FullDateDetector, HighAgeDetector,
)
