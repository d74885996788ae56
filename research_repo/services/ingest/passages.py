"""Passages: a document's text cut into speaker turns or paragraphs, de-identified as a whole
(names found once are redacted everywhere), and stored as slices of the canonical text with
their index rows and placement job."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from nlp.deid.engine import Result, Roster
from nlp.deid.offsets import move_offset
from nlp.segment import NUMBERED, ROLE_WORDS, Piece, assign_roles, paragraphs, speaker_turns, split_long

from ...models import (
    Passage, Source, SourceKind,
)
from .. import outbox
from ..inputs import deidentifier


TRANSCRIPT_KINDS = (SourceKind.INTERVIEW, SourceKind.FOCUS_GROUP, SourceKind.USABILITY, SourceKind.OBSERVATION)


@dataclass
class Segmented:
    """Raw canonical text with passages (offsets into it) and speaker roles."""

    text: str
    spans: list[tuple[int, int, str | None]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def segment(doc_text: str, turns: list[Piece] | None, kind: SourceKind, max_chars: int) -> Segmented:
    if turns is None and kind in TRANSCRIPT_KINDS:
        turns = speaker_turns(doc_text)
    pieces = turns if turns is not None else paragraphs(doc_text, max_chars=max_chars)
    labels = [p.speaker for p in pieces if p.speaker]
    roles = assign_roles(labels)
    # Labels that are not role words or numbers are names: every mention of them is redacted.
    names = sorted({lab for lab in labels if lab.casefold().rstrip(".") not in ROLE_WORDS and not NUMBERED.match(lab)})
    out = Segmented("")
    parts: list[str] = []
    pos = 0
    for piece in pieces:
        for sub in split_long(doc_text, piece.start, piece.end, max_chars, piece.speaker):
            role = roles.get(sub.speaker) if sub.speaker else None
            prefix = f"{role}: " if role else ""
            body = doc_text[sub.start:sub.end]
            parts.append(prefix + body)
            out.spans.append((pos + len(prefix), pos + len(prefix) + len(body), role))
            pos += len(prefix) + len(body) + 2
    out.text = "\n\n".join(parts)
    out.names = names
    return out


@dataclass(frozen=True)
class Review:
    """A reviewer's decisions on a preview (``ingest.preview``): proposed spans that are not
    identifiers (offsets into the segmented text) and values to redact as well."""

    drop: frozenset[tuple[int, int]] = frozenset()
    add: tuple[str, ...] = ()
    add_kind: str = "PERSON"

    def added_spans(self, text: str) -> list:
        from nlp.deid.spans import Kind, Span

        found = []
        for value in self.add:
            words = [re.escape(w) for w in value.split()]
            if words:
                for m in re.finditer(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", text, re.IGNORECASE):
                    found.append(Span(m.start(), m.end(), Kind(self.add_kind), "reviewer", 1.0))
        return found


@dataclass(frozen=True)
class StudyTerms:
    """A study's roster (keyed hashes) and never-redact terms, applied to what it ingests, and
    for a previewed document the reviewer's decisions."""

    roster: Roster | None = None
    keep: tuple[str, ...] = ()
    review: Review = Review()


def deidentified_passages(seg: Segmented, names: Iterable[str] = (), terms: StudyTerms = StudyTerms(),
                          ) -> tuple[Result, list[tuple[int, int, str | None]]]:
    result = deidentifier().deidentify(seg.text, names=[*seg.names, *names], roster=terms.roster, keep=terms.keep,
                                       drop=terms.review.drop, add=terms.review.added_spans(seg.text))
    edits = [(r.start, r.end, r.new_start, r.new_end) for r in result.replacements]
    spans = []
    last = 0
    for start, end, role in seg.spans:
        new_start, new_end = max(move_offset(start, False, edits), last), move_offset(end, True, edits)
        if new_end > new_start:
            spans.append((new_start, new_end, role))
            last = new_end
    return result, spans


def passage_rows(source: Source, spans: list[tuple[int, int, str | None]]) -> list[Passage]:
    """Passages as slices of the source's canonical text (``source.id`` must be set)."""
    return [
        Passage(source_id=source.id, position=i, speaker_role=role, text=source.text[start:end],
                start_offset=start, end_offset=end)
        for i, (start, end, role) in enumerate(spans)
    ]


def add_passages(session: Session, passages: list[Passage], study_id: int, *, bulk: bool = False) -> list[Passage]:
    """Store passages and, in the same transaction, their index-outbox rows and placement job
    (``bulk`` for an import's records, indexed after what people are waiting for)."""
    session.add_all(passages)
    session.flush()
    outbox.added(session, [p.id for p in passages], study_id=study_id, bulk=bulk)
    return passages


def study_terms(session, study_id: int, settings) -> StudyTerms:
    from .. import study_terms as terms

    return StudyTerms(terms.roster(session, study_id, settings.secret_key), tuple(terms.keep_terms(session, study_id)))
