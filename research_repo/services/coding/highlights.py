"""Highlights: tagged spans of a passage with a memo (de-identified), and "tag all results" of
a search or a theme as one step that can be undone, latest first."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...models import CodingAction, Highlight, HighlightTag, Passage, Polarity, Source, Study, Tag, Theme, ThemeRun, User
from ...models._types import utcnow
from .. import audit
from ..errors import Conflict, NotFound, ValidationError
from ..inputs import free_text
from .codebook import get_tag, reindex_passages


MAX_BULK = 5000


@dataclass
class Coding:
    tag_id: int
    polarity: Polarity | None = None


def _codings(session: Session, study_id: int, codings: list[Coding]) -> list[tuple[Tag, Polarity | None]]:
    out, seen = [], set()
    for c in codings:
        tag = get_tag(session, study_id, c.tag_id)
        if tag.id in seen:
            continue
        seen.add(tag.id)
        if tag.is_system and tag.driver is None:
            raise ValidationError("Apply one of the A-11 drivers, not the set itself.", field="tags")
        if tag.driver and c.polarity is None:
            raise ValidationError(f"Say whether “{tag.name}” is positive or negative here.", field="tags")
        out.append((tag, c.polarity if tag.driver else None))
    return out


def locate(passage: Passage, quote: str, start: int | None = None, end: int | None = None) -> tuple[int, int]:
    """Source offsets of the selected text. The page sends offsets within the passage and the
    selected text; when they disagree (or no script ran) the text is found in the passage."""
    text = passage.text
    quote = quote or ""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        if not quote.strip() or text[start:end] == quote:
            return passage.start_offset + start, passage.start_offset + end
    squeezed = " ".join(quote.split())
    if not squeezed:
        if start is None:
            return passage.start_offset, passage.end_offset
        raise ValidationError("Select the words to highlight, or leave the selection empty for the whole passage.",
                              field="quote")
    pattern = re.compile(r"\s+".join(re.escape(w) for w in squeezed.split(" ")), re.IGNORECASE)
    m = pattern.search(text)
    if m is None:
        raise ValidationError("That text is not in this passage; select it again or copy it exactly.", field="quote")
    return passage.start_offset + m.start(), passage.start_offset + m.end()


def create_highlight(session: Session, actor: User, passage: Passage, span: tuple[int, int], codings: list[Coding],
                     memo: str = "") -> tuple[Highlight, int]:
    """A highlight of ``span`` (source offsets inside the passage) with tags and a memo.
    Returns it and how many identifiers were replaced in the memo."""
    source = session.get(Source, passage.source_id)
    start, end = span
    if not (passage.start_offset <= start < end <= passage.end_offset):
        raise ValidationError("The highlight must lie inside the passage.", field="quote")
    pairs = _codings(session, source.study_id, codings)
    memo, replaced = free_text(memo, 5000, "memo", "memo")
    if not pairs and not memo:
        raise ValidationError("Choose at least one tag or write a memo for the highlight.", field="tags")
    highlight = Highlight(passage_id=passage.id, start_offset=start, end_offset=end, memo=memo,
                          created_by_id=actor.id)
    session.add(highlight)
    session.flush()
    for tag, polarity in pairs:
        session.add(HighlightTag(highlight_id=highlight.id, tag_id=tag.id, polarity=polarity))
    reindex_passages(session, [passage.id])
    session.flush()
    audit.record(session, actor, "highlight.create", study_id=source.study_id, object_type="highlight",
                 object_id=highlight.id, passage=passage.id, tags=[t.id for t, _ in pairs])
    return highlight, replaced


def get_highlight(session: Session, study_id: int, highlight_id: int | None) -> Highlight:
    h = session.get(Highlight, highlight_id) if highlight_id else None
    if h is None or session.get(Source, h.passage.source_id).study_id != study_id:
        raise NotFound("No such highlight in this study.")
    return h


def get_passage(session: Session, study_id: int, passage_id: int | None) -> tuple[Passage, Source]:
    passage = session.get(Passage, passage_id) if passage_id else None
    source = session.get(Source, passage.source_id) if passage is not None else None
    if source is None or source.study_id != study_id:
        raise NotFound("No such passage in this study.")
    return passage, source


def get_theme(session: Session, study_id: int, theme_id: int | None) -> Theme:
    theme = session.get(Theme, theme_id) if theme_id else None
    if theme is None or session.get(ThemeRun, theme.run_id).study_id != study_id:
        raise NotFound("No such theme in this study.")
    return theme


def highlight_text(h: Highlight) -> str:
    p = h.passage
    return p.text[h.start_offset - p.start_offset:h.end_offset - p.start_offset]


def delete_highlight(session: Session, actor: User, study_id: int, h: Highlight) -> None:
    reindex_passages(session, [h.passage_id])
    session.delete(h)
    session.flush()
    audit.record(session, actor, "highlight.delete", study_id=study_id, object_type="highlight", object_id=h.id)


def highlights_for_passages(session: Session, passage_ids: list[int]) -> dict[int, list[Highlight]]:
    out: dict[int, list[Highlight]] = {}
    if not passage_ids:
        return out
    for h in session.scalars(select(Highlight).where(Highlight.passage_id.in_(passage_ids))
                             .order_by(Highlight.start_offset, Highlight.id)):
        out.setdefault(h.passage_id, []).append(h)
    return out


def bulk_tag(session: Session, actor: User, study: Study, passage_ids: list[int], coding: Coding,
             origin: str) -> CodingAction:
    """Tag every passage: a whole-passage highlight is made (or reused) for each. Recorded as
    one action so it can be undone."""
    passage_ids = list(dict.fromkeys(passage_ids))
    if not passage_ids:
        raise ValidationError("There are no passages to tag.")
    if len(passage_ids) > MAX_BULK:
        raise ValidationError(f"Tag at most {MAX_BULK:,} passages at once; narrow the search first.")
    [(tag, polarity)] = _codings(session, study.id, [coding])
    passages = session.execute(
        select(Passage.id, Passage.start_offset, Passage.end_offset).join(Source)
        .where(Passage.id.in_(passage_ids), Source.study_id == study.id)).all()
    if len(passages) != len(passage_ids):
        raise NotFound("Some of those passages are not in this study.")
    whole = {}
    for h in session.scalars(select(Highlight).where(Highlight.passage_id.in_(passage_ids))):
        whole.setdefault((h.passage_id, h.start_offset, h.end_offset), h)
    tagged_ids = set(session.scalars(select(HighlightTag.highlight_id).where(HighlightTag.tag_id == tag.id)))
    created, tagged = [], []
    for pid, start, end in passages:
        h = whole.get((pid, start, end))
        if h is None:
            h = Highlight(passage_id=pid, start_offset=start, end_offset=end, memo="", created_by_id=actor.id)
            session.add(h)
            session.flush()
            created.append(h.id)
        elif h.id in tagged_ids:
            continue
        else:
            tagged.append(h.id)
        session.add(HighlightTag(highlight_id=h.id, tag_id=tag.id, polarity=polarity))
    reindex_passages(session, [pid for pid, _s, _e in passages])
    action = CodingAction(study_id=study.id, actor_id=actor.id, tag_id=tag.id, origin=origin,
                          created_highlights=created, tagged_highlights=tagged)
    session.add(action)
    session.flush()
    audit.record(session, actor, "highlight.bulk_tag", study_id=study.id, object_type="coding_action",
                 object_id=action.id, tag=tag.id, origin=origin, created=len(created), tagged=len(tagged))
    return action


def undo_bulk(session: Session, actor: User, study: Study, action_id: int) -> CodingAction:
    """Take back exactly what one step added: its tag on the highlights it tagged, and the
    highlights it made. Steps are undone latest first where they touch the same highlights
    (a later step's codings sit on them); work added by hand since (another tag, a memo, a
    citation as insight evidence) keeps its highlight, and only this step's tag leaves it."""
    from ...models import insight_highlight

    action = session.get(CodingAction, action_id)
    if action is None or action.study_id != study.id:
        raise NotFound("No such coding step in this study.")
    if action.undone_at is not None:
        raise Conflict("That coding step was already undone.")
    touched = set(action.created_highlights + action.tagged_highlights)
    for later in session.scalars(select(CodingAction).where(
            CodingAction.study_id == study.id, CodingAction.id > action.id, CodingAction.undone_at.is_(None))
            .order_by(CodingAction.id.desc())):
        if touched & set(later.created_highlights + later.tagged_highlights):
            raise Conflict(f"Step {later.id} coded the same passages after this one; undo step {later.id} first.")
    if touched:
        reindex_passages(session, session.scalars(select(Highlight.passage_id).where(Highlight.id.in_(touched))))
    if action.tag_id is not None and touched:
        session.execute(delete(HighlightTag).where(HighlightTag.tag_id == action.tag_id,
                                                   HighlightTag.highlight_id.in_(touched)))
    if action.created_highlights:
        created = action.created_highlights
        kept = set(session.scalars(select(HighlightTag.highlight_id).where(HighlightTag.highlight_id.in_(created))))
        kept |= set(session.scalars(select(insight_highlight.c.highlight_id).where(
            insight_highlight.c.highlight_id.in_(created))))
        for h in session.scalars(select(Highlight).where(Highlight.id.in_(created))).all():
            if h.id not in kept and not h.memo:
                session.delete(h)
    action.undone_at = utcnow()
    session.flush()
    audit.record(session, actor, "highlight.bulk_undo", study_id=study.id, object_type="coding_action",
                 object_id=action.id)
    return action


def recent_actions(session: Session, study_id: int, limit: int = 10) -> list[CodingAction]:
    return list(session.scalars(select(CodingAction).where(CodingAction.study_id == study_id)
                                .order_by(CodingAction.id.desc()).limit(limit)))
