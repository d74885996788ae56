"""De-identification: detectors yield spans, spans become consistent pseudonyms.

    >>> from nlp.deid import Deidentifier
    >>> Deidentifier().fit().deidentify("Call Maria at 202-555-0143.").text
    'Call [PERSON_1] at [PHONE_1].'

Framework-free: imports neither Flask nor research_repo. Detectors follow one small protocol (``detectors.Detector``); ``Deidentifier(detectors=...)``
runs a chosen list, ``default_detectors()`` by default.
"""
from .detectors import Detector, default_detectors
from .engine import DEFAULT_ALLOW, Deidentifier, Pseudonyms, Replacement, Result, Roster
from .offsets import move_offset, replace
from .spans import Kind, Span

__all__ = ["DEFAULT_ALLOW", "Deidentifier", "Detector", "Kind", "Pseudonyms", "Replacement", "Result", "Roster",
           "Span", "default_detectors", "move_offset", "replace"]
