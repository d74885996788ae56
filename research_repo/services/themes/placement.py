"""New passages placed into a study's accepted themes without a new run (the ``place_passages``
job), and candidate themes proposed when enough of them fit no theme."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from nlp import themes as nlp_themes

from ...models import (
    Passage, PassageVector, Source, Theme, ThemeAction, ThemeRun, ThemeStatus, VectorModel, theme_passage,
)
from .. import audit, outbox
from .review import refresh_size, snapshot
from .runs import INTERVIEWER_ROLES, latest_done
from .vectors import load_vectors, utc_now, texts_and_sources, vectorize_stored


PLACE_CHUNK = 500  # passages per write transaction of a placement job (keeps the write lock short)


def place_job(ctx) -> None:
    """The ``place_passages`` job, queued with new or re-worded passages (``outbox.added``):
    their theme vectors with the current model, then a place in their study's accepted
    themes. It takes over the study's other queued placement jobs, so passages that arrive
    together (four uploads in a minute, an import's chunks) are placed, and their "not yet
    themed" pool judged, together. Passages deleted since are skipped; a failure leaves them
    to the next theme run, which vectorizes what lacks a vector."""
    from ...extensions import get_db
    from ...models import Job, JobStatus

    db = get_db(ctx.app)
    ids = [int(i) for i in ctx.payload.get("passage_ids", [])]
    with db.writing() as session:
        me = session.get(Job, ctx.job_id)
        for job in session.scalars(select(Job).where(
                Job.kind == ctx.kind, Job.status == JobStatus.QUEUED, Job.study_id == me.study_id, Job.id != me.id)):
            ids.extend(int(i) for i in job.payload.get("passage_ids", []))
            job.status, job.finished_at, job.error = JobStatus.DONE, utc_now(), None
            job.worker = f"taken over by job {me.id}"
    ids = sorted(set(ids))
    for i in range(0, len(ids), PLACE_CHUNK):
        chunk = ids[i:i + PLACE_CHUNK]
        with db.writing() as session:
            vectorize_stored(session, chunk, ctx.app.config["THEME_VECTORS"])
            assign_new(session, chunk)
        ctx.progress(min(len(ids), i + PLACE_CHUNK), len(ids))


def assign_new(session: Session, passage_ids: list[int], min_similarity: float = 0.3) -> int:
    """Put new passages into their study's latest finished run without re-running it: each
    goes to the nearest accepted theme, with its cosine similarity as the confidence; below
    that theme's floor (far under its own passages' similarities, and at least
    ``min_similarity``) it is kept there flagged "not yet themed", and enough of those
    become candidate themes. Returns how many were placed."""
    if not passage_ids:
        return 0
    rows = session.execute(select(Passage.id, Passage.speaker_role, Source.study_id).join(
        Source, Source.id == Passage.source_id).where(Passage.id.in_(passage_ids))).all()
    by_study = defaultdict(list)
    for pid, role, study_id in rows:
        if role not in INTERVIEWER_ROLES:
            by_study[study_id].append(pid)
    assigned = 0
    for study_id, pids in by_study.items():
        run = latest_done(session, study_id)
        if run is None or run.vector_model_id is None:
            continue
        accepted = list(session.scalars(select(Theme).where(
            Theme.run_id == run.id, Theme.status == ThemeStatus.ACCEPTED, Theme.centroid.is_not(None))))
        already = set(session.scalars(select(theme_passage.c.passage_id).join(Theme, Theme.id == theme_passage.c.theme_id)
                                      .where(Theme.run_id == run.id, theme_passage.c.passage_id.in_(pids))))
        pids = [p for p in pids if p not in already]
        if not accepted or not pids:
            continue
        model = session.get(VectorModel, run.vector_model_id)
        have = set(session.scalars(select(PassageVector.passage_id).where(
            PassageVector.model_id == model.id, PassageVector.passage_id.in_(pids))))
        pids = [p for p in pids if p in have]
        if not pids:
            continue
        centroids = np.vstack([np.frombuffer(t.centroid, dtype=np.float32) for t in accepted])
        sims = load_vectors(session, model, pids) @ centroids.T
        best = sims.argmax(axis=1)
        floors = [float((t.scores or {}).get("floor", min_similarity)) for t in accepted]
        session.execute(insert(theme_passage), [
            {"theme_id": accepted[b].id, "passage_id": pid, "rank": None, "similarity": float(sims[i, b]),
             "themed": bool(sims[i, b] >= floors[b])} for i, (pid, b) in enumerate(zip(pids, best, strict=True))])
        for theme in accepted:
            refresh_size(session, theme)
        run.passage_count = (run.passage_count or 0) + len(pids)
        outbox.changed(session, pids, bulk=True)
        assigned += len(pids)
        propose_candidates(session, run, model)
    return assigned


CANDIDATE_POOL = 10  # unthemed passages (and at least 5 % of the run) before candidates are proposed


CANDIDATE_MIN_SIZE = 3


def propose_candidates(session: Session, run: ThemeRun, model: VectorModel) -> list[Theme]:
    """When enough of a run's passages are "not yet themed", cluster that pool and propose
    its clusters as new themes (status proposed) for reviewers; undoable like any action."""
    pool = session.execute(select(theme_passage.c.passage_id, theme_passage.c.theme_id).join(
        Theme, Theme.id == theme_passage.c.theme_id).where(
        Theme.run_id == run.id, theme_passage.c.themed.is_(False)).order_by(theme_passage.c.passage_id)).all()
    if len(pool) < max(CANDIDATE_POOL, 0.05 * (run.passage_count or 0)):
        return []
    pids = [pid for pid, _tid in pool]
    print("POOL", len(pool), sorted({tid for _p, tid in pool}), run.passage_count)
    X = load_vectors(session, model, pids)
    est = nlp_themes.ThemeModel(k_min=2, random_state=run.random_state).fit(X)
    keep = [t for t in range(est.k_) if (est.labels_ == t).sum() >= CANDIDATE_MIN_SIZE]
    if not keep:
        return []
    losing = [session.get(Theme, tid) for tid in sorted({tid for _pid, tid in pool})]
    action = ThemeAction(run_id=run.id, kind="propose", summary="", before=snapshot(session, losing))
    session.add(action)
    texts, sources = texts_and_sources(session, pids)
    terms = nlp_themes.class_terms(texts, est.labels_, est.k_)
    created = []
    for t in keep:
        members = np.flatnonzero(est.labels_ == t)
        quotes = nlp_themes.representative(X, members, est.centroids_[t], groups=sources)
        theme = Theme(run_id=run.id, label=nlp_themes.label_for(terms[t]), top_terms=terms[t],
                      quotes=[pids[i] for i in quotes], centroid=est.centroids_[t].tobytes(),
                      scores={"candidate": True}, size=len(members))
        session.add(theme)
        session.flush()
        created.append(theme)
        for i in members:
            session.execute(update(theme_passage).where(theme_passage.c.passage_id == pids[i],
                                                        theme_passage.c.theme_id.in_([x.id for x in losing]))
                            .values(theme_id=theme.id, similarity=float(est.similarity_[i]),
                                    themed=bool(est.themed_[i]), rank=None))
    for theme in losing:
        refresh_size(session, theme)
    action.before = {**action.before, "created": [t.id for t in created]}
    action.summary = f"Proposed {len(created)} new theme(s) from {len(pool)} passages not yet themed"
    audit.record(session, None, "theme.propose", study_id=run.study_id, object_type="theme_run", object_id=run.id,
                 created=[t.id for t in created], pool=len(pool))
    return created
