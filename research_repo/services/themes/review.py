"""Reviewing a run: its themes as a page shows them, and the actions on them (rename, accept,
reject, merge, split, move a passage, undo), each audited, undoable and sent to the index."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from nlp import themes as nlp_themes

from ...models import (
    Passage, Source, Theme, ThemeAction, ThemeRun, ThemeStatus, User, VectorModel, theme_passage,
)
from .. import audit, outbox
from ..errors import Conflict, NotFound, ValidationError
from .vectors import load_vectors, utc_now, texts_and_sources


@dataclass
class ThemeView:
    theme: Theme
    quotes: list[Passage]
    channels: list[tuple[str, int]]
    kinds: list[tuple[str, int]]
    trend: list[tuple[str, int]]
    children: list[ThemeView] = field(default_factory=list)


def review(session: Session, run: ThemeRun) -> tuple[list[ThemeView], int]:
    """The run's themes for review (first-level groups with their themes, or a flat list) and
    how many passages are not yet themed."""
    themes = list(session.scalars(select(Theme).where(Theme.run_id == run.id).order_by(Theme.size.desc(), Theme.id)))
    counts = defaultdict(lambda: {"channel": Counter(), "kind": Counter(), "quarter": Counter()})
    rows = session.execute(
        select(theme_passage.c.theme_id, Source.channel, Source.kind, Source.collected_on, Source.created_at)
        .join(Passage, Passage.id == theme_passage.c.passage_id).join(Source, Source.id == Passage.source_id)
        .join(Theme, Theme.id == theme_passage.c.theme_id).where(Theme.run_id == run.id))
    for theme_id, channel, kind, collected, created in rows:
        c = counts[theme_id]
        c["channel"][channel or "unknown"] += 1
        c["kind"][kind.value] += 1
        when = collected or created.date()
        c["quarter"][f"{when.year}-Q{(when.month - 1) // 3 + 1}"] += 1
    quarters = sorted({q for c in counts.values() for q in c["quarter"]})
    quote_ids = {pid for t in themes for pid in (t.quotes or [])}
    passages = {p.id: p for p in session.scalars(select(Passage).where(Passage.id.in_(quote_ids)))} if quote_ids else {}
    views = {}
    for t in themes:
        c = counts[t.id]
        views[t.id] = ThemeView(t, [passages[p] for p in (t.quotes or []) if p in passages],
                                c["channel"].most_common(), c["kind"].most_common(),
                                [(q, c["quarter"].get(q, 0)) for q in quarters])
    top = []
    for t in themes:
        if t.parent_id is None:
            top.append(views[t.id])
        elif t.parent_id in views:
            views[t.parent_id].children.append(views[t.id])
    for v in top:  # a group's trend and channels are its themes'
        if v.children:
            total = Counter()
            channels = Counter()
            for child in v.children:
                total.update(dict(child.trend))
                channels.update(dict(child.channels))
            v.trend = [(q, total.get(q, 0)) for q in quarters]
            v.channels = channels.most_common()
    unthemed = session.scalar(select(func.count()).select_from(theme_passage).join(
        Theme, Theme.id == theme_passage.c.theme_id).where(Theme.run_id == run.id, theme_passage.c.themed.is_(False)))
    return top, unthemed or 0


def _theme(session: Session, run: ThemeRun, theme_id: int) -> Theme:
    theme = session.get(Theme, theme_id)
    if theme is None or theme.run_id != run.id:
        raise NotFound(f"No theme {theme_id} in this run.")
    return theme


def snapshot(session: Session, themes: list[Theme]) -> dict:
    ids = [t.id for t in themes]
    members = defaultdict(list)
    for tid, pid, rank, sim, themed in session.execute(select(
            theme_passage.c.theme_id, theme_passage.c.passage_id, theme_passage.c.rank, theme_passage.c.similarity,
            theme_passage.c.themed).where(theme_passage.c.theme_id.in_(ids))):
        members[str(tid)].append([pid, rank, sim, themed])
    return {"themes": [{"id": t.id, "label": t.label, "status": t.status.value, "pinned": t.pinned, "size": t.size,
                        "merged_into_id": t.merged_into_id, "quotes": list(t.quotes or []),
                        "top_terms": list(t.top_terms or [])} for t in themes],
            "members": members, "created": []}


def _act(session: Session, actor: User, run: ThemeRun, kind: str, summary: str, themes: list[Theme]) -> ThemeAction:
    action = ThemeAction(run_id=run.id, kind=kind, summary=summary[:300], before=snapshot(session, themes),
                         created_by_id=actor.id)
    # Every review action only changes these themes and moves passages among them.
    outbox.themes_changed(session, [t.id for t in themes])
    session.add(action)
    session.flush()
    return action


def _audit(session: Session, actor: User, run: ThemeRun, what: str, theme_id: int, **details) -> None:
    audit.record(session, actor, f"theme.{what}", study_id=run.study_id, object_type="theme", object_id=theme_id,
                 run=run.id, **details)


def rename(session: Session, actor: User, run: ThemeRun, theme_id: int, label: str) -> Theme:
    from ..inputs import label as clean_label

    if not 1 <= len(" ".join((label or "").split())) <= 200:
        raise ValidationError("A theme name needs 1 to 200 characters.")
    label, _ = clean_label(label, 200, "theme name")
    theme = _theme(session, run, theme_id)
    _act(session, actor, run, "rename", f"Renamed “{theme.label}” to “{label}”", [theme])
    theme.label, theme.pinned = label, True
    _audit(session, actor, run, "rename", theme.id)
    return theme


def set_status(session: Session, actor: User, run: ThemeRun, theme_id: int, status: ThemeStatus) -> Theme:
    theme = _theme(session, run, theme_id)
    verb = {ThemeStatus.ACCEPTED: "Accepted", ThemeStatus.REJECTED: "Rejected", ThemeStatus.PROPOSED: "Reopened"}
    if status not in verb:
        raise ValidationError("A theme can be accepted, rejected or reopened.")
    _act(session, actor, run, status.value, f"{verb[status]} “{theme.label}”", [theme])
    theme.status = status
    _audit(session, actor, run, status.value, theme.id)
    return theme


def refresh_size(session: Session, theme: Theme) -> None:
    theme.size = session.scalar(select(func.count()).select_from(theme_passage).where(
        theme_passage.c.theme_id == theme.id)) or 0


def merge(session: Session, actor: User, run: ThemeRun, target_id: int, other_ids: list[int]) -> Theme:
    target = _theme(session, run, target_id)
    others = [_theme(session, run, i) for i in dict.fromkeys(other_ids) if i != target_id]
    if not others:
        raise ValidationError("Choose at least one other theme to merge into this one.")
    _act(session, actor, run, "merge", f"Merged {len(others)} theme(s) into “{target.label}”", [target, *others])
    for other in others:
        session.execute(update(theme_passage).where(theme_passage.c.theme_id == other.id).values(
            theme_id=target.id, rank=None))
        other.status, other.merged_into_id, other.size = ThemeStatus.MERGED, target.id, 0
    refresh_size(session, target)
    target.pinned = True
    _audit(session, actor, run, "merge", target.id, merged=[o.id for o in others])
    return target


def split(session: Session, actor: User, run: ThemeRun, theme_id: int, parts: int = 2) -> list[Theme]:
    """Re-cluster one theme's passages into ``parts`` themes: the theme keeps the largest part."""
    theme = _theme(session, run, theme_id)
    if not 2 <= parts <= 10:
        raise ValidationError("Split a theme into 2 to 10 parts.")
    model = session.get(VectorModel, run.vector_model_id) if run.vector_model_id else None
    pids = list(session.scalars(select(theme_passage.c.passage_id).where(theme_passage.c.theme_id == theme.id)
                                .order_by(theme_passage.c.passage_id)))
    if model is None or len(pids) < parts * 2:
        raise ValidationError(f"“{theme.label}” has too few passages to split into {parts}.")
    action = _act(session, actor, run, "split", f"Split “{theme.label}” into {parts}", [theme])
    X = load_vectors(session, model, pids)
    est = nlp_themes.ThemeModel(n_themes=parts, random_state=run.random_state, max_top=parts).fit(X)
    texts, sources = texts_and_sources(session, pids)
    terms = nlp_themes.class_terms(texts, est.labels_, est.k_)
    order = np.argsort([-(est.labels_ == i).sum() for i in range(est.k_)])
    result = []
    created = []
    for n, part in enumerate(order):
        members = np.flatnonzero(est.labels_ == part)
        quotes = nlp_themes.representative(X, members, est.centroids_[part], groups=sources)
        if n == 0:
            target = theme
            target.top_terms, target.quotes = terms[part], [pids[i] for i in quotes]
            target.centroid = est.centroids_[part].tobytes()
            if not target.pinned:
                target.label = nlp_themes.label_for(terms[part])
        else:
            target = Theme(run_id=run.id, label=nlp_themes.label_for(terms[part]), top_terms=terms[part],
                           quotes=[pids[i] for i in quotes], centroid=est.centroids_[part].tobytes(),
                           parent_id=theme.parent_id, scores={})
            session.add(target)
            session.flush()
            created.append(target.id)
            member_ids = [pids[i] for i in members]
            for i in range(0, len(member_ids), 500):
                session.execute(update(theme_passage).where(
                    theme_passage.c.theme_id == theme.id, theme_passage.c.passage_id.in_(member_ids[i:i + 500])
                ).values(theme_id=target.id))
        rank = {pids[i]: r for r, i in enumerate(quotes, start=1)}
        session.execute(update(theme_passage).where(theme_passage.c.theme_id == target.id).values(rank=None))
        for pid, r in rank.items():
            session.execute(update(theme_passage).where(theme_passage.c.theme_id == target.id,
                                                        theme_passage.c.passage_id == pid).values(rank=r))
        result.append(target)
    for target in result:
        refresh_size(session, target)
    action.before = {**action.before, "created": created}
    _audit(session, actor, run, "split", theme.id, parts=parts, created=created)
    return result


def move_passage(session: Session, actor: User, run: ThemeRun, passage_id: int, target_id: int) -> Theme:
    target = _theme(session, run, target_id)
    current = session.scalar(select(theme_passage.c.theme_id).join(Theme, Theme.id == theme_passage.c.theme_id)
                             .where(Theme.run_id == run.id, theme_passage.c.passage_id == passage_id))
    if current is None:
        raise NotFound(f"Passage {passage_id} is not in this run.")
    if current == target.id:
        return target
    source = _theme(session, run, current)
    _act(session, actor, run, "move", f"Moved a passage from “{source.label}” to “{target.label}”", [source, target])
    session.execute(update(theme_passage).where(theme_passage.c.theme_id == source.id,
                                                theme_passage.c.passage_id == passage_id)
                    .values(theme_id=target.id, rank=None, themed=True))
    source.quotes = [p for p in (source.quotes or []) if p != passage_id]
    refresh_size(session, source)
    refresh_size(session, target)
    _audit(session, actor, run, "move", target.id, passage=passage_id, source_theme=source.id)
    return target


def undo(session: Session, actor: User, run: ThemeRun) -> ThemeAction:
    """Undo the run's latest action that is not undone yet."""
    action = session.scalar(select(ThemeAction).where(ThemeAction.run_id == run.id, ThemeAction.undone_at.is_(None))
                            .order_by(ThemeAction.id.desc()).limit(1))
    if action is None:
        raise Conflict("There is nothing to undo in this run.")
    before = action.before
    ids = [t["id"] for t in before["themes"]]
    for state in before["themes"]:
        theme = session.get(Theme, state["id"])
        theme.label, theme.status, theme.pinned = state["label"], ThemeStatus(state["status"]), state["pinned"]
        theme.size, theme.merged_into_id, theme.quotes = state["size"], state["merged_into_id"], state["quotes"]
        theme.top_terms = state["top_terms"]
    moved = [pid for rows in before["members"].values() for pid, *_ in rows]
    created = before.get("created") or []
    outbox.themes_changed(session, ids + created)
    outbox.changed(session, moved)
    for i in range(0, len(moved), 500):
        session.execute(delete(theme_passage).where(theme_passage.c.passage_id.in_(moved[i:i + 500]),
                                                    theme_passage.c.theme_id.in_(ids + created)))
    rows = [{"theme_id": int(tid), "passage_id": pid, "rank": rank, "similarity": sim, "themed": themed}
            for tid, members in before["members"].items() for pid, rank, sim, themed in members]
    for i in range(0, len(rows), 5000):
        session.execute(insert(theme_passage), rows[i:i + 5000])
    for theme_id in created:
        session.execute(delete(Theme).where(Theme.id == theme_id))
    action.undone_at = utc_now()
    audit.record(session, actor, "theme.undo", study_id=run.study_id, object_type="theme_action", object_id=action.id,
                 run=run.id, kind=action.kind)
    return action


def actions(session: Session, run: ThemeRun, limit: int = 20) -> list[ThemeAction]:
    return list(session.scalars(select(ThemeAction).where(ThemeAction.run_id == run.id)
                                .order_by(ThemeAction.id.desc()).limit(limit)))


def map_points(session: Session, run: ThemeRun, limit: int = 1500) -> list[tuple[float, float, int, int]]:
    """A 2-D map of the run's passages: (x, y, theme id, group id), PCA of the stored vectors
    of an even sample, scaled to [0, 1]."""
    model = session.get(VectorModel, run.vector_model_id) if run.vector_model_id else None
    if model is None:
        return []
    rows = session.execute(select(theme_passage.c.passage_id, Theme.id, Theme.parent_id).join(
        Theme, Theme.id == theme_passage.c.theme_id).where(Theme.run_id == run.id).order_by(
        theme_passage.c.passage_id)).all()
    if len(rows) < 3:
        return []
    step = max(1, len(rows) // limit)
    rows = rows[::step][:limit]
    X = load_vectors(session, model, [r[0] for r in rows])
    X = X - X.mean(axis=0)
    _u, _s, vt = np.linalg.svd(X, full_matrices=False)
    xy = X @ vt[:2].T
    xy = (xy - xy.min(axis=0)) / np.maximum(np.ptp(xy, axis=0), 1e-9)
    return [(float(x), float(y), tid, parent or tid) for (x, y), (_pid, tid, parent) in zip(xy, rows, strict=True)]
