"""The one way a change reaches the search index: outbox rows written in the caller's
transaction, so the index can never learn of a change the database did not keep.

The index writer (``search.indexer``) only drains these rows. What a passage's index
document holds (text, source facets, tags, drivers, the accepted themes of its study's
latest finished run) is read from the database at drain time, so a row says only *which*
passage to look at again, never what changed.

New or re-worded passages also need theme vectors and a place among the accepted themes;
that is the ``place_passages`` job (``services.themes.placement``), queued here in the same
transaction.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import IndexOutbox, OutboxOp, Theme, ThemeRun, theme_passage

PLACE_JOB = "place_passages"
PLACE_BATCH = 5000  # passage ids per placement job (a payload of ids only, never text)


def changed(session: Session, passage_ids: Iterable[int], *, bulk: bool = False) -> int:
    """Passages whose index document changed (tags, drivers, themes, facets). ``bulk``: an
    import or a background job wrote them, so the index writer takes them after the changes
    someone is waiting to see (a change is read from the database when it is drained, so
    taking rows out of order cannot index a stale version)."""
    ids = sorted(set(passage_ids))
    session.add_all([IndexOutbox(passage_id=pid, op=OutboxOp.UPSERT, bulk=bulk) for pid in ids])
    return len(ids)


def added(session: Session, passage_ids: Iterable[int], *, study_id: int | None = None, bulk: bool = False) -> int:
    """New passages, or passages whose text changed: index them and queue their placement."""
    from .. import jobs

    ids = sorted(set(passage_ids))
    changed(session, ids, bulk=bulk)
    for i in range(0, len(ids), PLACE_BATCH):
        jobs.enqueue(session, PLACE_JOB, {"passage_ids": ids[i:i + PLACE_BATCH]}, study_id=study_id)
    return len(ids)


def reworded(session: Session, passage_ids: Iterable[int], *, study_id: int | None = None) -> int:
    """Passages whose text changed in place (a hand redaction): the old words must leave the
    index files, so a delete comes first; then they are indexed and placed again."""
    ids = sorted(set(passage_ids))
    session.add_all([IndexOutbox(passage_id=pid, op=OutboxOp.DELETE) for pid in ids])
    session.flush()  # the delete's id is lower than the upsert's
    return added(session, ids, study_id=study_id)


def deleted(session: Session, passage_ids: Iterable[int]) -> int:
    ids = sorted(set(passage_ids))
    session.add_all([IndexOutbox(passage_id=pid, op=OutboxOp.DELETE) for pid in ids])
    return len(ids)


def themes_changed(session: Session, theme_ids: Iterable[int]) -> int:
    """Every passage in these themes now (call before a change that moves passages out, and
    it covers them too: merges, splits and moves only move passages among the themes named)."""
    ids = list(set(theme_ids))
    if not ids:
        return 0
    return changed(session, session.scalars(
        select(theme_passage.c.passage_id).where(theme_passage.c.theme_id.in_(ids)).distinct()))


def study_changed(session: Session, study_id: int) -> int:
    """Every passage of the study's theme runs (a run finished: the latest run's accepted
    themes replace the previous run's in the facet)."""
    return changed(session, session.scalars(
        select(theme_passage.c.passage_id).join(Theme, Theme.id == theme_passage.c.theme_id)
        .join(ThemeRun, ThemeRun.id == Theme.run_id).where(ThemeRun.study_id == study_id).distinct()), bulk=True)

