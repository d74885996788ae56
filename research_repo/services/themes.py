"""Theme runs: passage vectors stored once, runs as jobs over a chosen set of passages, themes
that keep their identity across runs, and review actions that are audited and undoable."""
from __future__ import annotations

import importlib.metadata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from nlp import themes as nlp_themes

from ..models import (
    Passage, PassageVector, Source, SourceKind, Study, Theme, ThemeAction, ThemeRun, ThemeRunStatus, ThemeStatus,
    User, VectorModel, theme_passage,
)
from . import audit, outbox
from .errors import Conflict, NotFound, ValidationError

LSA = "lsa"
MINILM = "minilm"
JOB_KIND = "theme_run"
MAX_THEMES = 400
VECTOR_BATCH = 2000
INTERVIEWER_ROLES = ("MODERATOR", "NOTE_TAKER")


@dataclass(frozen=True)
class RunScope:
    """Which passages of a study a run clusters."""

    kinds: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    passage_ids: tuple[int, ...] | None = None  # a search's results
    include_moderator: bool = False

    def as_json(self) -> dict:
        return {"kinds": list(self.kinds), "date_from": self.date_from and self.date_from.isoformat(),
                "date_to": self.date_to and self.date_to.isoformat(),
                "passages": None if self.passage_ids is None else len(self.passage_ids),
                "include_moderator": self.include_moderator}


@dataclass
class RunOptions:
    k: int | None = None
    scope: RunScope = field(default_factory=RunScope)
    warm: bool = True
    random_state: int = 0
    vectors: str = LSA


def _now() -> datetime:
    return datetime.now(UTC)


# ---- vectors

def current_model(session: Session, kind: str = LSA) -> VectorModel | None:
    return session.scalar(select(VectorModel).where(VectorModel.kind == kind).order_by(VectorModel.id.desc()).limit(1))


@lru_cache(maxsize=4)
def _vectorizer(model_id: int, kind: str, state: bytes):
    if kind == MINILM:
        from nlp.themes.embed import MiniLMEncoder

        return MiniLMEncoder().fit()
    return nlp_themes.LsaVectorizer.from_bytes(state)


def vectorizer_for(model: VectorModel):
    return _vectorizer(model.id, model.kind, model.state)


def ensure_model(session: Session, kind: str, texts=None, random_state: int = 0) -> VectorModel:
    """The newest vector model of ``kind``, created if there is none: LSA is fitted on
    ``texts`` (a callable returning them, so they are read only when needed); MiniLM has
    nothing to fit."""
    model = current_model(session, kind)
    if model is not None:
        return model
    if kind == MINILM:
        from nlp.themes import embed

        encoder = embed.MiniLMEncoder().fit()  # fails here, with how to install it, if the extra is missing
        model = VectorModel(kind=MINILM, version=embed.VERSION, dim=encoder.dim, fitted_on=0, state=b"")
        session.add(model)
        session.flush()
        return model
    return fit_model(session, texts(), random_state=random_state)


def fit_model(session: Session, texts: list[str], random_state: int = 0) -> VectorModel:
    vectorizer = nlp_themes.LsaVectorizer(random_state=random_state).fit(texts)
    model = VectorModel(kind=LSA, version=nlp_themes.LSA_VERSION, dim=vectorizer.dim,
                        fitted_on=min(len(texts), vectorizer.fit_sample), state=vectorizer.to_bytes())
    session.add(model)
    session.flush()
    return model


def vectorize(session: Session, model: VectorModel, passage_ids: list[int], *, replace: bool = False,
              progress=None) -> int:
    """Store vectors for the passages that lack one (all given ones when ``replace``)."""
    if not passage_ids:
        return 0
    vectorizer = vectorizer_for(model)
    todo = list(passage_ids)
    if replace:
        for i in range(0, len(todo), 500):
            session.execute(delete(PassageVector).where(PassageVector.model_id == model.id,
                                                        PassageVector.passage_id.in_(todo[i:i + 500])))
    else:
        have = set()
        for i in range(0, len(todo), 500):
            have.update(session.scalars(select(PassageVector.passage_id).where(
                PassageVector.model_id == model.id, PassageVector.passage_id.in_(todo[i:i + 500]))))
        todo = [pid for pid in todo if pid not in have]
    done = 0
    for i in range(0, len(todo), VECTOR_BATCH):
        chunk = todo[i:i + VECTOR_BATCH]
        rows = session.execute(select(Passage.id, Passage.text).where(Passage.id.in_(chunk))).all()
        if not rows:
            continue
        vectors = vectorizer.transform([text for _id, text in rows])
        session.execute(insert(PassageVector), [
            {"passage_id": pid, "model_id": model.id, "vector": vec.tobytes()}
            for (pid, _text), vec in zip(rows, vectors, strict=True)])
        done += len(rows)
        if progress:
            progress(done, len(todo))
    return done


def vectorize_stored(session: Session, passage_ids: list[int], kind: str = LSA) -> int:
    """For the index writer: vectors for new or changed passages, with the current model of
    the configured kind (once a run has made one; the first run vectorizes what came before)."""
    model = current_model(session, kind)
    if model is None or not passage_ids:
        return 0
    return vectorize(session, model, passage_ids, replace=True)


PLACE_CHUNK = 500  # passages per write transaction of a placement job (keeps the write lock short)


def place_job(ctx) -> None:
    """The ``place_passages`` job, queued with new or re-worded passages (``outbox.added``):
    their theme vectors with the current model, then a place in their study's accepted
    themes. It takes over the study's other queued placement jobs, so passages that arrive
    together (four uploads in a minute, an import's chunks) are placed, and their "not yet
    themed" pool judged, together. Passages deleted since are skipped; a failure leaves them
    to the next theme run, which vectorizes what lacks a vector."""
    from ..extensions import get_db
    from ..models import Job, JobStatus

    db = get_db(ctx.app)
    ids = [int(i) for i in ctx.payload.get("passage_ids", [])]
    with db.writing() as session:
        me = session.get(Job, ctx.job_id)
        for job in session.scalars(select(Job).where(
                Job.kind == ctx.kind, Job.status == JobStatus.QUEUED, Job.study_id == me.study_id, Job.id != me.id)):
            ids.extend(int(i) for i in job.payload.get("passage_ids", []))
            job.status, job.finished_at, job.error = JobStatus.DONE, _now(), None
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
        sims = _load_vectors(session, model, pids) @ centroids.T
        best = sims.argmax(axis=1)
        floors = [float((t.scores or {}).get("floor", min_similarity)) for t in accepted]
        session.execute(insert(theme_passage), [
            {"theme_id": accepted[b].id, "passage_id": pid, "rank": None, "similarity": float(sims[i, b]),
             "themed": bool(sims[i, b] >= floors[b])} for i, (pid, b) in enumerate(zip(pids, best, strict=True))])
        for theme in accepted:
            _refresh(session, theme)
        run.passage_count = (run.passage_count or 0) + len(pids)
        outbox.changed(session, pids)
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
    X = _load_vectors(session, model, pids)
    est = nlp_themes.ThemeModel(k_min=2, random_state=run.random_state).fit(X)
    keep = [t for t in range(est.k_) if (est.labels_ == t).sum() >= CANDIDATE_MIN_SIZE]
    if not keep:
        return []
    losing = [session.get(Theme, tid) for tid in sorted({tid for _pid, tid in pool})]
    action = ThemeAction(run_id=run.id, kind="propose", summary="", before=_snapshot(session, losing))
    session.add(action)
    texts, sources = _texts_and_sources(session, pids)
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
        _refresh(session, theme)
    action.before = {**action.before, "created": [t.id for t in created]}
    action.summary = f"Proposed {len(created)} new theme(s) from {len(pool)} passages not yet themed"
    audit.record(session, None, "theme.propose", study_id=run.study_id, object_type="theme_run", object_id=run.id,
                 created=[t.id for t in created], pool=len(pool))
    return created


def _texts_and_sources(session: Session, ids: list[int]) -> tuple[list[str], list[int]]:
    """The passages' texts and source ids, in the order of ``ids``."""
    found: dict[int, tuple[str, int]] = {}
    for i in range(0, len(ids), 900):
        found.update((pid, (text, sid)) for pid, text, sid in session.execute(
            select(Passage.id, Passage.text, Passage.source_id).where(Passage.id.in_(ids[i:i + 900]))))
    return [found[pid][0] for pid in ids], [found[pid][1] for pid in ids]


def _load_vectors(session: Session, model: VectorModel, passage_ids: list[int]) -> np.ndarray:
    found: dict[int, bytes] = {}
    for i in range(0, len(passage_ids), 5000):
        chunk = passage_ids[i:i + 5000]
        found.update(session.execute(select(PassageVector.passage_id, PassageVector.vector).where(
            PassageVector.model_id == model.id, PassageVector.passage_id.in_(chunk))).all())
    out = np.zeros((len(passage_ids), model.dim), dtype=np.float32)
    for row, pid in enumerate(passage_ids):
        out[row] = np.frombuffer(found[pid], dtype=np.float32)
    return out


# ---- runs

def scope_passages(session: Session, study_id: int, scope: RunScope) -> list[int]:
    query = select(Passage.id).join(Source, Source.id == Passage.source_id).where(Source.study_id == study_id)
    if not scope.include_moderator:
        # Themes are about what respondents said, not the questions they were asked.
        query = query.where(func.coalesce(Passage.speaker_role, "").not_in(INTERVIEWER_ROLES))
    if scope.kinds:
        query = query.where(Source.kind.in_([SourceKind(k) for k in scope.kinds]))
    if scope.date_from:
        query = query.where(Source.collected_on >= scope.date_from)
    if scope.date_to:
        query = query.where(Source.collected_on <= scope.date_to)
    ids = list(session.scalars(query.order_by(Passage.id)))
    if scope.passage_ids is not None:
        wanted = set(scope.passage_ids)
        ids = [pid for pid in ids if pid in wanted]
    return ids


def start_run(session: Session, actor: User, study: Study, options: RunOptions, *, enqueue: bool = True) -> ThemeRun:
    """Create a run in the caller's transaction, queued as a job (``enqueue``) or for the
    caller to execute (the CLI runs it in its own process)."""
    from .. import jobs

    if options.k is not None and not 2 <= options.k <= MAX_THEMES:
        raise ValidationError(f"The number of themes must be between 2 and {MAX_THEMES}.")
    busy = session.scalar(select(ThemeRun.id).where(
        ThemeRun.study_id == study.id, ThemeRun.status.in_([ThemeRunStatus.QUEUED, ThemeRunStatus.RUNNING])))
    if busy:
        raise Conflict(f"Theme run {busy} for this study has not finished yet.")
    passages = scope_passages(session, study.id, options.scope)
    if len(passages) < 10:
        raise ValidationError(f"A theme run needs at least 10 passages; the chosen set has {len(passages)}.")
    run = ThemeRun(study_id=study.id, created_by_id=actor.id, random_state=options.random_state,
                   parameters={"k": options.k, "warm": options.warm, "scope": options.scope.as_json(),
                               "vectors": options.vectors,
                               "passage_ids": list(options.scope.passage_ids)
                               if options.scope.passage_ids is not None else None},
                   passage_count=len(passages))
    session.add(run)
    session.flush()
    job = jobs.enqueue(session, JOB_KIND, {"run_id": run.id}, study_id=study.id, actor=actor) if enqueue else None
    audit.record(session, actor, "theme_run.start", study_id=study.id, object_type="theme_run", object_id=run.id,
                 job=job.id if job else None, k=options.k, passages=len(passages))
    return run


def library_versions() -> dict:
    return {name: importlib.metadata.version(name) for name in ("numpy", "scipy", "scikit-learn")} | {
        "vectorizer": nlp_themes.LSA_VERSION}


def _previous(session: Session, run: ThemeRun, model: VectorModel) -> tuple[ThemeRun | None, list[Theme]]:
    previous = session.scalar(select(ThemeRun).where(
        ThemeRun.study_id == run.study_id, ThemeRun.status == ThemeRunStatus.DONE, ThemeRun.id < run.id,
        ThemeRun.vector_model_id == model.id).order_by(ThemeRun.id.desc()).limit(1))
    if previous is None:
        return None, []
    themes = list(session.scalars(select(Theme).where(
        Theme.run_id == previous.id, Theme.centroid.is_not(None),
        Theme.status.in_([ThemeStatus.PROPOSED, ThemeStatus.ACCEPTED])).order_by(Theme.id)))
    return previous, themes


def _run_scope(run: ThemeRun) -> RunScope:
    params = run.parameters or {}
    scope = params.get("scope") or {}
    return RunScope(kinds=tuple(scope.get("kinds") or ()),
                    date_from=date.fromisoformat(scope["date_from"]) if scope.get("date_from") else None,
                    date_to=date.fromisoformat(scope["date_to"]) if scope.get("date_to") else None,
                    passage_ids=tuple(params["passage_ids"]) if params.get("passage_ids") is not None else None,
                    include_moderator=bool(scope.get("include_moderator")))


def execute_run(db, run_id: int, progress=None) -> None:
    """Cluster a run's passages and store its themes: the job's body. The database write lock
    is taken only in short transactions (vectors in batches, then the themes); clustering
    runs in between on what was read."""
    with db.writing() as session:
        run = session.get(ThemeRun, run_id)
        if run is None:
            raise NotFound(f"No theme run {run_id}.")
        run.status, run.started_at = ThemeRunStatus.RUNNING, _now()
        ids = scope_passages(session, run.study_id, _run_scope(run))
        if len(ids) < 10:
            raise ValidationError(f"A theme run needs at least 10 passages; the chosen set has {len(ids)} now.")
        model = ensure_model(session, (run.parameters or {}).get("vectors", LSA), texts=lambda: list(
            session.scalars(select(Passage.text).where(Passage.id.in_(ids[:20_000])))), random_state=run.random_state)
        run.vector_model_id = model.id
        model_id = model.id
    for i in range(0, len(ids), VECTOR_BATCH * 5):
        with db.writing() as session:
            vectorize(session, session.get(VectorModel, model_id), ids[i:i + VECTOR_BATCH * 5])
        if progress:
            progress(min(len(ids), i + VECTOR_BATCH * 5), len(ids) * 2)
    with db.read_session() as session:
        run = session.get(ThemeRun, run_id)
        params = run.parameters or {}
        model = session.get(VectorModel, model_id)
        X = _load_vectors(session, model, ids)
        previous, old_themes = _previous(session, run, model) if params.get("warm", True) else (None, [])
        previous_id = previous.id if previous else None
        old = [(t.id, t.label, t.status, t.pinned, np.frombuffer(t.centroid, dtype=np.float32)) for t in old_themes]
        # Each passage's theme in the previous run (as moved by merges and splits since), so a
        # warm run keeps it there unless another theme fits clearly better.
        # Read once: the changed count below compares against the same assignments.
        before = _assignments(session, previous_id) if previous_id else {}
        index = {o[0]: i for i, o in enumerate(old)}
        init_labels = np.array([index.get(before.get(pid), -1) for pid in ids]) if old else None
    init = np.vstack([o[4] for o in old]) if old else None
    estimator = nlp_themes.ThemeModel(n_themes=params.get("k"), init_centroids=init, init_labels=init_labels,
                                      random_state=run.random_state).fit(X)
    if progress:
        progress(len(ids) * 2 - 1, len(ids) * 2)
    with db.writing() as session:
        run = session.get(ThemeRun, run_id)
        _store_themes(session, run, ids, X, estimator, old)
        run.previous_run_id = previous_id
        run.changed_count = _changed(session, before, run) if previous_id else None
        run.passage_count = len(ids)
        run.library_versions = library_versions()
        run.quality = {
            "k": estimator.k_,
            "chosen": "given" if params.get("k") else ("previous run" if init is not None else "silhouette sweep"),
            "sweep": [[k, round(s, 4)] for k, s in estimator.sweep_], "groups": int(len(set(estimator.parents_))),
            "unthemed": int((~estimator.themed_).sum()),
            "mean_similarity": round(float(estimator.similarity_.mean()), 4), "vector_dim": X.shape[1],
        }
        run.status, run.finished_at = ThemeRunStatus.DONE, _now()
        session.flush()
        outbox.study_changed(session, run.study_id)


def run_job(ctx) -> None:
    """The ``theme_run`` job: ``ctx.payload = {"run_id": ...}``. Its run is queued with the
    job, running while it runs, and done or failed with it (``run_failed``): one life cycle,
    the job's, which also takes a run back from a worker that died."""
    from ..extensions import get_db

    execute_run(get_db(ctx.app), ctx.payload["run_id"], progress=ctx.progress)


def run_failed(session: Session, job, exc: BaseException | None) -> None:
    """The job's ``on_fail``: the run fails with the job, in the same transaction."""
    if exc is None:
        message = "The worker running it stopped several times; start the run again."
    elif isinstance(exc, ValidationError | NotFound):  # our own messages name counts and settings
        message = str(exc)
    else:
        message = f"{type(exc).__name__} (see the log)"
    fail_run(session, job.payload["run_id"], message)


def _store_themes(session: Session, run: ThemeRun, ids: list[int], X: np.ndarray, est, old: list[tuple]) -> None:
    ordered_texts, groups = _texts_and_sources(session, ids)
    terms = nlp_themes.class_terms(ordered_texts, est.labels_, est.k_)
    theme_scores = nlp_themes.scores(X, est.labels_, est.centroids_)
    mapping = nlp_themes.match(np.vstack([o[4] for o in old]), est.centroids_) if old else {}

    parents: dict[int, Theme] = {}
    n_groups = len(set(est.parents_.tolist()))
    if n_groups < est.k_:
        group_of = est.parents_[est.labels_]
        group_terms = nlp_themes.class_terms(ordered_texts, group_of, n_groups)
        for group in range(n_groups):
            parent = Theme(run_id=run.id, label=nlp_themes.label_for(group_terms[group], 2),
                           top_terms=group_terms[group], size=int((group_of == group).sum()), scores={})
            session.add(parent)
            parents[group] = parent
        session.flush()

    rows = []
    for theme_no in range(est.k_):
        members = np.flatnonzero(est.labels_ == theme_no)
        quotes = nlp_themes.representative(X, members, est.centroids_[theme_no], groups=groups)
        score = theme_scores[theme_no]
        theme = Theme(run_id=run.id, label=nlp_themes.label_for(terms[theme_no]), top_terms=terms[theme_no],
                      size=score.size, scores={"cohesion": score.cohesion, "distinctiveness": score.distinctiveness,
                                               "unthemed": int((~est.themed_[members]).sum()),
                                               # new passages below it are "not yet themed" here
                                               "floor": round(float(est.floors_[theme_no]), 4)},
                      quotes=[ids[i] for i in quotes], centroid=est.centroids_[theme_no].tobytes(),
                      parent_id=parents[int(est.parents_[theme_no])].id if parents else None)
        if theme_no in mapping:
            old_id, old_label, old_status, old_pinned, _centroid = old[mapping[theme_no]]
            theme.predecessor_id = old_id
            if old_pinned:  # a person named it: the name stays
                theme.label, theme.pinned = old_label, True
            if old_status is ThemeStatus.ACCEPTED:
                theme.status = ThemeStatus.ACCEPTED
        session.add(theme)
        session.flush()
        rank = {i: r for r, i in enumerate(quotes, start=1)}
        rows.extend({"theme_id": theme.id, "passage_id": ids[i], "rank": rank.get(i),
                     "similarity": float(est.similarity_[i]), "themed": bool(est.themed_[i])} for i in members)
    for i in range(0, len(rows), 5000):
        session.execute(insert(theme_passage), rows[i:i + 5000])


def _assignments(session: Session, run_id: int) -> dict[int, int]:
    return dict(session.execute(select(theme_passage.c.passage_id, theme_passage.c.theme_id).join(
        Theme, Theme.id == theme_passage.c.theme_id).where(Theme.run_id == run_id)).all())


def _changed(session: Session, before: dict[int, int], run: ThemeRun) -> int:
    """How many passages of the previous run (``before``: passage -> theme) are not in the
    successor of their theme now."""
    after = _assignments(session, run.id)
    successor = dict(session.execute(select(Theme.predecessor_id, Theme.id).where(
        Theme.run_id == run.id, Theme.predecessor_id.is_not(None))).all())
    return sum(1 for pid, old in before.items() if pid in after and successor.get(old) != after[pid])


def fail_run(session: Session, run_id: int, error: str) -> None:
    session.execute(update(ThemeRun).where(ThemeRun.id == run_id).values(
        status=ThemeRunStatus.FAILED, error=error, finished_at=_now()))


def runs(session: Session, study_id: int) -> list[ThemeRun]:
    return list(session.scalars(select(ThemeRun).where(ThemeRun.study_id == study_id).order_by(ThemeRun.id.desc())))


def latest_done(session: Session, study_id: int) -> ThemeRun | None:
    return session.scalar(select(ThemeRun).where(ThemeRun.study_id == study_id, ThemeRun.status ==
                                                 ThemeRunStatus.DONE).order_by(ThemeRun.id.desc()).limit(1))


# ---- review

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


def _snapshot(session: Session, themes: list[Theme]) -> dict:
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
    action = ThemeAction(run_id=run.id, kind=kind, summary=summary[:300], before=_snapshot(session, themes),
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
    from .inputs import label as clean_label

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


def _refresh(session: Session, theme: Theme) -> None:
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
    _refresh(session, target)
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
    X = _load_vectors(session, model, pids)
    est = nlp_themes.ThemeModel(n_themes=parts, random_state=run.random_state, max_top=parts).fit(X)
    texts, sources = _texts_and_sources(session, pids)
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
        _refresh(session, target)
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
    _refresh(session, source)
    _refresh(session, target)
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
    action.undone_at = _now()
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
    X = _load_vectors(session, model, [r[0] for r in rows])
    X = X - X.mean(axis=0)
    _u, _s, vt = np.linalg.svd(X, full_matrices=False)
    xy = X @ vt[:2].T
    xy = (xy - xy.min(axis=0)) / np.maximum(np.ptp(xy, axis=0), 1e-9)
    return [(float(x), float(y), tid, parent or tid) for (x, y), (_pid, tid, parent) in zip(xy, rows, strict=True)]
