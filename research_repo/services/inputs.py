"""The one boundary for what people type. Every field of every form and JSON body is either

- **free text**: trimmed, limited, and de-identified before it is stored (the number of
  replacements comes back so the page can say what was replaced), or
- a **strict value**: a code, date, enum, id or username that is refused unless it matches
  its pattern, with a message that says what it should look like (never what was typed).

There is no third kind: nothing typed is stored as it came. Flash messages and errors carry
counts and ids, never a typed value (a flash sits in the signed, unencrypted session cookie).
"""
from __future__ import annotations

import functools
import os
import re
import threading
from datetime import date

from nlp.deid.engine import Deidentifier
from nlp.segment import ROLE_WORDS

from .errors import ValidationError


def free_text(value: str | None, limit: int, what: str, field_name: str | None = None) -> tuple[str, int]:
    """Trimmed text with every identifier the engine finds replaced by a marker, and how many
    were replaced. Longer than ``limit`` is refused."""
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationError(f"Keep the {what} under {limit} characters.", field=field_name)
    if not value:
        return "", 0
    result = deidentifier().deidentify(value)
    return result.text, len(result.replacements)


def label(value: str | None, limit: int, what: str, field_name: str | None = None, *,
          required: bool = False) -> tuple[str, int]:
    """A one-line name (study, service, theme, segment, token): free text with its whitespace
    collapsed, de-identified."""
    collapsed = " ".join((value or "").split())
    if required and not collapsed:
        raise ValidationError(f"Give the {what}.", field=field_name)
    return free_text(collapsed, limit, what, field_name)


def refuse_identifiers(value: str | None, what: str, field_name: str | None = None) -> str:
    """Text that must be stored exactly as typed or not at all (a saved query, a filter value):
    refused when the engine finds an identifier in it, with the kinds it found."""
    value = value or ""
    spans = deidentifier().find(value) if value.strip() else []
    if spans:
        kinds = sorted({s.kind.value.lower() for s in spans})
        raise ValidationError(f"The {what} looks like it contains an identifier ({', '.join(kinds)}), so it "
                              "cannot be saved. Remove it and try again.", field=field_name)
    return value


def code(value: str | None, pattern: re.Pattern[str], what: str, example: str, field_name: str | None = None, *,
         required: bool = False) -> str | None:
    """A strict value: None when empty (unless required), else it must match ``pattern``."""
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationError(f"Give the {what}, for example {example}.", field=field_name)
        return None
    if not pattern.fullmatch(value):
        raise ValidationError(f"The {what} should look like {example}.", field=field_name)
    return value


def iso_date(value: str | None, what: str, field_name: str | None = None) -> date | None:
    """A strict date: None when empty, else YYYY-MM-DD or refused."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"Write the {what} as YYYY-MM-DD.", field=field_name) from None


def replaced_note(count: int) -> str:
    """What the page says after storing free text: a count, never the values."""
    if not count:
        return ""
    return f" {count} identifier{'s' if count != 1 else ''} replaced."


# Strict values.
AGENCY = re.compile(r"[A-Z][A-Z0-9&-]{1,15}")  # OPM, SSA, VA, USDA-FNS
QUESTION_NUMBER = re.compile(r"[A-Za-z]{0,3}\d{1,4}(?:\.\d{1,3})?[a-z]?")  # Q12, 3.2, LA7b
OMB_CONTROL_NUMBER = re.compile(r"\d{4}-\d{4}")  # 3206-0252


# ---- the de-identifier every input goes through, and short labels (file names, metadata)

# Speaker roles are never names (a transcript's "P1", "Moderator").
ROLES = frozenset(ROLE_WORDS.values()) | {f"P{n}" for n in range(1, 1000)}
_deid_lock = threading.Lock()


def _new_lock_in_child() -> None:
    # A forked child (a reader, an import's de-identifier) has one thread: a lock another
    # thread held at the fork would be held there for ever.
    global _deid_lock
    _deid_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
_deid: Deidentifier | None = None


def deidentifier() -> Deidentifier:
    """One fitted de-identifier per process (the models load once)."""
    global _deid
    with _deid_lock:
        if _deid is None:
            _deid = Deidentifier(allow=ROLES).fit()
        return _deid


def short_value(value: str | None, limit: int) -> str | None:
    """A metadata value with its whitespace collapsed, de-identified, cut to ``limit``."""
    if value is None or not str(value).strip():
        return None
    return deid_value(" ".join(str(value).split()))[:limit]


@functools.lru_cache(maxsize=4096)
def deid_value(value: str) -> str:
    """A metadata value (channel, service, category), de-identified. These repeat across an
    export's rows, so each distinct value is checked once (the cache lives in memory only)."""
    return deidentifier().deidentify(value).text


_categorical: Deidentifier | None = None


@functools.lru_cache(maxsize=4096)
def category_value(value: str, limit: int = 200) -> str | None:
    """A categorical metadata value of an export (channel, segment, stage, service, category):
    a value many records share ("voice", "good", "helpdesk") is not a name, so only the
    shaped identifiers are looked for (emails, phones, SSNs, ids, addresses, dates), never
    the person tagger or places; a value with one of those is still redacted. Free text
    goes to the text columns."""
    global _categorical
    value = " ".join(str(value or "").split())
    if not value:
        return None
    with _deid_lock:
        if _categorical is None:
            from nlp.deid.spans import Kind

            _categorical = Deidentifier(allow=ROLES, kinds=[k for k in Kind if k not in (Kind.PERSON, Kind.LOCATION)],
                                        propagate=False).fit()
    return _categorical.deidentify(value).text[:limit]


def label_spans(text: str):
    """Identifiers in a short label with no context (a file name, a tag name): a lone common
    word ("call", "notes", "child") is not taken for a name."""
    from nlp.deid.lexicon import load

    lex = load()
    return [sp for sp in deidentifier().find(text)
            if not (" " not in text[sp.start:sp.end] and lex.zipf_of(text[sp.start:sp.end].lower()) >= 4.0)]


def display_name(filename: str | None) -> str:
    """A file name fit to show back: the base name without control characters, with any
    identifier in it (a respondent's name is common: "maria_alvarez_interview.docx") redacted."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:120].strip() or "upload"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    # First as written (an email or phone keeps its dots and hyphens), then with separators as
    # spaces (names: "maria_alvarez").
    shown = stem
    for spaced in (False, True):
        text = re.sub(r"[_\-.]+", " ", shown) if spaced else shown
        spans = [sp for sp in label_spans(text) if spaced or sp.kind.value != "PERSON"]
        if spans:
            parts, pos = [], 0
            for sp in spans:
                parts.append(text[pos:sp.start] + f"[{sp.kind.value}]")
                pos = sp.end
            shown = "".join(parts) + text[pos:]
    return f"{shown}.{ext.lower()}" if ext else shown
