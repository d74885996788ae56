"""Who spoke: a transcript's speaker roles, which a researcher can correct after import.

Segmentation gives each speaker label a role (MODERATOR for "Interviewer:", P1, P2 ... for
participants); when it guesses wrong, the moderator's questions would be themed and searched
as customer voice. Changing a role rewrites the role in the stored text ("P2: " becomes
"MODERATOR: " at the start of each of that speaker's turns), moves passage and highlight
offsets through the edit like a hand redaction does, and sends the passages to the index.
Themes leave MODERATOR and NOTE_TAKER turns out (``themes.INTERVIEWER_ROLES``).
"""
from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlp.deid.offsets import move_offset, replace

from ..models import Highlight, Source, User
from . import audit, outbox
from .errors import ValidationError

INTERVIEWER = ("MODERATOR", "NOTE_TAKER")


def roles(source: Source) -> list[tuple[str, int]]:
    """The source's speaker roles with their number of passages, in order of first turn."""
    counts = Counter(p.speaker_role for p in source.passages if p.speaker_role)
    order = list(dict.fromkeys(p.speaker_role for p in sorted(source.passages, key=lambda p: p.position)
                               if p.speaker_role))
    return [(role, counts[role]) for role in order]


def set_role(session: Session, actor: User, source: Source, old: str, new: str) -> int:
    """Give every turn of speaker ``old`` the role ``new`` (a participant keeps a P number:
    choosing "participant" for a moderator gives the next free one). Returns the number of
    passages changed."""
    present = dict(roles(source))
    if old not in present:
        raise ValidationError("That speaker is not in this source.", field="speaker")
    if new == "PARTICIPANT":
        used = {int(r[1:]) for r in present if re.fullmatch(r"P\d+", r)}
        new = old if re.fullmatch(r"P\d+", old) else f"P{next(n for n in range(1, 1000) if n not in used)}"
    if new not in INTERVIEWER and not re.fullmatch(r"P\d{1,3}", new):
        raise ValidationError("A speaker is the moderator, the note-taker or a participant.", field="role")
    if new == old:
        return 0
    passages = sorted(source.passages, key=lambda p: p.start_offset)
    theirs = [p for p in passages if p.speaker_role == old]
    # The role label written before each of their turns: "P2: " just before the passage.
    spans = []
    for p in theirs:
        label = f"{old}: "
        start = p.start_offset - len(label)
        if start >= 0 and source.text[start:p.start_offset] == label:
            spans.append((start, p.start_offset, f"{new}: "))
    new_text, edits = replace(source.text, spans)
    for p in passages:
        p.start_offset = move_offset(p.start_offset, False, edits)
        p.end_offset = move_offset(p.end_offset, True, edits)
        if p.speaker_role == old:
            p.speaker_role = new
    ids = [p.id for p in passages]
    if ids and edits:
        for h in session.scalars(select(Highlight).where(Highlight.passage_id.in_(ids))):
            h.start_offset = move_offset(h.start_offset, False, edits)
            h.end_offset = move_offset(h.end_offset, True, edits)
    source.text = new_text
    if edits:  # pseudonym offsets in the summary follow the text
        from .redaction import summary_of

        source.redaction_summary = summary_of(new_text, int(source.redaction_summary.get("manual", 0)))
    session.flush()
    outbox.changed(session, [p.id for p in theirs])
    audit.record(session, actor, "source.speaker_role", study_id=source.study_id, object_type="source",
                 object_id=source.id, old=old, new=new, passages=len(theirs))
    return len(theirs)

