"""What a detector is, and the detectors the engine runs unless told otherwise.

A detector has a ``name``, the ``kind`` of identifier it finds and a ``find(text)`` that
yields ``Span``s; nothing else is asked of it (like scrubadub's detectors or Presidio's
recognizers). ``Deidentifier(detectors=[...])`` runs the ones given, for example the
defaults plus an agency's own case-number shape; the person tagger, the roster and the
propagation of names are the engine's own and run whatever the list.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from .address import AddressBlockDetector
from .patterns import PATTERN_DETECTORS
from .places import PlaceDetector
from .spans import Kind, Span


@runtime_checkable
class Detector(Protocol):
    name: str
    kind: Kind

    def find(self, text: str) -> Iterable[Span]: ...


def default_detectors() -> list[Detector]:
    """A fresh instance of every built-in detector: the shaped identifiers (emails, phones,
    SSNs, claim numbers, dates...), address blocks and places."""
    return [cls() for cls in (*PATTERN_DETECTORS, AddressBlockDetector, PlaceDetector)]
