"""De-identification: detectors yield spans, spans become consistent pseudonyms.

    >>> from nlp.deid import Deidentifier
    >>> Deidentifier().fit().deidentify("Call Maria at 202-555-0143.").text
    'Call [PERSON_1] at [PHONE_1].'

Framework-free: imports neither Flask nor research_repo.
"""
from .engine import DEFAULT_ALLOW, Deidentifier, Pseudonyms, Replacement, Result, Roster
from .spans import Kind, Span

__all__ = ["DEFAULT_ALLOW", "Deidentifier", "Kind", "Pseudonyms", "Replacement", "Result", "Roster", "Span"]
