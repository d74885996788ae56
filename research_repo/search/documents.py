"""Index documents from the database, which is the source of truth: a passage with its
source's and study's facets, and the tags, A-11 drivers and accepted themes attached to it.

A passage's themes are the accepted themes of its study's latest finished run (the run the
review page shows); a newer run replaces the older one's labels in the facet."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import (
    Highlight, HighlightTag, Passage, Source, Study, Tag, Theme, ThemeRun, ThemeRunStatus, ThemeStatus, theme_passage,
)


def _when(source_collected: date | None, attributes: dict) -> datetime | None:
    created = (attributes or {}).get("created_at")
    if created:
        try:
            return datetime.fromisoformat(created).replace(tzinfo=None)
        except ValueError:
            pass
    if source_collected:
        return datetime.combine(source_collected, datetime.min.time())
    return None


def documents(session: Session, passage_ids: Iterable[int]) -> list[dict]:
    ids = list(passage_ids)
    if not ids:
        return []
    rows = session.execute(
        select(Passage.id, Passage.text, Passage.speaker_role, Passage.position, Source.id, Source.title,
               Source.kind, Source.channel, Source.segment, Source.journey_stage, Source.collected_on,
               Source.attributes, Study.id, Study.service)
        .join(Source, Passage.source_id == Source.id).join(Study, Source.study_id == Study.id)
        .where(Passage.id.in_(ids))
    ).all()
    tags: dict[int, list[str]] = defaultdict(list)
    drivers: dict[int, list[str]] = defaultdict(list)
    for passage_id, name, is_system in session.execute(
        select(Highlight.passage_id, Tag.path, Tag.is_system)
        .join(HighlightTag, HighlightTag.highlight_id == Highlight.id).join(Tag, Tag.id == HighlightTag.tag_id)
        .where(Highlight.passage_id.in_(ids))
    ):
        # Tags by full path ("Pay/Interim pay"); drivers by their name ("Trust").
        (drivers if is_system else tags)[passage_id].append(name.rsplit("/", 1)[-1] if is_system else name)
    themes: dict[int, list[str]] = defaultdict(list)
    latest = (select(func.max(ThemeRun.id)).where(ThemeRun.status == ThemeRunStatus.DONE)
              .group_by(ThemeRun.study_id))
    for passage_id, label in session.execute(
        select(theme_passage.c.passage_id, Theme.label).join(Theme, Theme.id == theme_passage.c.theme_id)
        .where(theme_passage.c.passage_id.in_(ids), Theme.status == ThemeStatus.ACCEPTED, Theme.run_id.in_(latest))
    ):
        themes[passage_id].append(label)
    docs = []
    for (pid, text, speaker, position, source_id, title, kind, channel, segment, stage, collected, attributes,
         study_id, service) in rows:
        when = _when(collected, attributes)
        service_value = (attributes or {}).get("service") or service
        docs.append({
            "passage_id": pid, "source_id": source_id, "position": position, "study": study_id, "title": title,
            "text": text, "speaker": speaker, "kind": kind.value, "service": service_value, "channel": channel,
            "stage": stage, "segment": segment, "date": when,
            "year": str(when.year) if when else None,
            "quarter": f"{when.year}-Q{(when.month - 1) // 3 + 1}" if when else None,
            "tag": sorted(set(tags[pid])), "theme": sorted(set(themes[pid])), "driver": sorted(set(drivers[pid])),
        })
    return docs


def all_documents(session: Session, batch: int = 2000) -> Iterator[list[dict]]:
    """Every passage, in batches of ids (keyset pagination: flat memory at any size)."""
    last = 0
    while True:
        ids = session.scalars(select(Passage.id).where(Passage.id > last).order_by(Passage.id).limit(batch)).all()
        if not ids:
            return
        yield documents(session, ids)
        last = ids[-1]
