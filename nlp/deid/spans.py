"""Spans: where an identifier is, what kind, which detector found it, how sure it is."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    PERSON = "PERSON"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    SSN = "SSN"  # includes ITINs (9xx-7x-xxxx), same shape
    DATE = "DATE"  # dates tied to a person: birth, death, application...
    AGE = "AGE"  # ages over 89
    ADDRESS = "ADDRESS"  # street addresses, PO boxes, unit numbers
    LOCATION = "LOCATION"  # cities and places smaller than a state
    ZIP = "ZIP"
    URL = "URL"
    IP = "IP"
    CLAIM = "CLAIM"  # OPM retirement claim numbers: CSA 1234567, CSF 2034567
    ID = "ID"  # labelled account, case, ticket, employee, licence, passport numbers
    CREDIT_CARD = "CREDIT_CARD"
    IBAN = "IBAN"


@dataclass(frozen=True, order=True)
class Span:
    """A half-open character range ``[start, end)`` of the input text."""

    start: int
    end: int
    kind: Kind
    detector: str
    score: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"empty or negative span {self.start}:{self.end}")

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def __len__(self) -> int:
        return self.end - self.start


def resolve_overlaps(spans: list[Span]) -> list[Span]:
    """Keep a set of non-overlapping spans: longer first, then higher score.

    A person inside a longer address ("24 Clarke Avenue") yields to the address; two
    overlapping spans of the same kind merge into one covering both.
    """
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), -s.score, s.start)):
        clash = next((c for c in chosen if c.overlaps(span)), None)
        if clash is None:
            chosen.append(span)
        elif clash.kind is span.kind and (span.start < clash.start or span.end > clash.end):
            chosen.remove(clash)
            chosen.append(Span(min(clash.start, span.start), max(clash.end, span.end), clash.kind,
                               clash.detector, max(clash.score, span.score)))
    return sorted(chosen)
