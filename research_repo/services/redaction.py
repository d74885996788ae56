"""A researcher redacts what the engine missed: every occurrence in one source becomes a
pseudonym; the canonical text, the passages (text and offsets) and the index are updated,
and the audit log records that it happened (kind and count), never the value."""
from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlp.deid.offsets import move_offset, replace
from nlp.deid.spans import Kind

from ..models import Highlight, Source, User
from . import audit, outbox
from .errors import ValidationError

PSEUDONYM = re.compile(r"\[(?P<kind>[A-Z_]+)_(?P<n>\d+)\]")



def summary_of(text: str, manual: int = 0) -> dict:
    replacements = [[m.group("kind"), m.start(), m.end()] for m in PSEUDONYM.finditer(text)]
    summary = {"counts": dict(Counter(r[0] for r in replacements)), "replacements": replacements}
    if manual:
        summary["manual"] = manual
    return summary


def redact(session: Session, actor: User, source: Source, value: str, kind: Kind) -> int:
    """Replace every occurrence of ``value`` (case-insensitive, whole words) in the source."""
    value = " ".join(value.split())
    if len(value) < 2:
        raise ValidationError("Enter at least two characters to redact.", field="value")
    if PSEUDONYM.fullmatch(value):
        raise ValidationError("That is already a redaction marker.", field="value")
    words = [re.escape(w) for w in value.split(" ")]
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
    text = source.text
    matches = list(pattern.finditer(text))
    if not matches:
        raise ValidationError("That text does not appear in this source; copy it exactly as shown.", field="value")
    used = [int(m.group("n")) for m in PSEUDONYM.finditer(text) if m.group("kind") == kind.value]
    label = f"[{kind.value}_{max(used, default=0) + 1}]"
    new_text, edits = replace(text, [(m.start(), m.end(), label) for m in matches])

    changed = []
    for passage in source.passages:
        start, end = move_offset(passage.start_offset, False, edits), move_offset(passage.end_offset, True, edits)
        new = new_text[start:end]
        if (start, end) != (passage.start_offset, passage.end_offset) or new != passage.text:
            passage.start_offset, passage.end_offset = start, end
            if new != passage.text:
                passage.text = new
                changed.append(passage)
    # Highlights keep covering the same words (now with the marker in place of the value).
    passage_ids = [p.id for p in source.passages]
    if passage_ids:
        for h in session.scalars(select(Highlight).where(Highlight.passage_id.in_(passage_ids))):
            h.start_offset, h.end_offset = move_offset(h.start_offset, False, edits), move_offset(h.end_offset, True, edits)
    manual = int(source.redaction_summary.get("manual", 0)) + len(matches)
    source.text = new_text
    source.redaction_summary = summary_of(new_text, manual)
    session.flush()
    # The old text must leave the index files, not only be replaced in results.
    outbox.reworded(session, [p.id for p in changed], study_id=source.study_id)
    audit.record(session, actor, "source.redact", study_id=source.study_id, object_type="source", object_id=source.id,
                 kind=kind.value, occurrences=len(matches), passages=len(changed))
    return len(matches)


def redact_study(session: Session, actor: User, source: Source, value: str, kind: Kind) -> tuple[int, int]:
    """The same hand redaction in every source of the study that holds ``value`` (a name
    the engine missed is usually missed everywhere). Returns (sources changed, occurrences).
    Each source numbers its own pseudonyms, as at ingest."""
    from sqlalchemy import func

    words = " ".join(value.split())
    if len(words) < 2:
        raise ValidationError("Enter at least two characters to redact.", field="value")
    # A cheap filter in the database (every word of the value appears), then the exact match.
    query = select(Source).where(Source.study_id == source.study_id)
    for word in words.split(" "):
        query = query.where(func.lower(Source.text).contains(word.lower(), autoescape=True))
    changed = occurrences = 0
    for candidate in session.scalars(query.order_by(Source.id)):
        try:
            count = redact(session, actor, candidate, words, kind)
        except ValidationError:
            continue  # the words are there but not as a whole phrase
        changed += 1
        occurrences += count
    if not changed:
        raise ValidationError("That text does not appear in this study; copy it exactly as shown.", field="value")
    return changed, occurrences
