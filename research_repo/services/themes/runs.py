"""Theme runs: a job over a chosen set of passages whose themes keep their identity across runs
(a warm run starts from the previous run's centroids). The run's life cycle is its job's
(``run_job``, ``run_failed``)."""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from nlp import themes as nlp_themes

from ...models import (
    Passage, Source, SourceKind, Study, Theme, ThemeRun, ThemeRunStatus, ThemeStatus, User, VectorModel, theme_passage,
)
from .. import audit, outbox
from ..errors import Conflict, NotFound, ValidationError
from .vectors import LSA, VECTOR_BATCH, load_vectors, utc_now, texts_and_sources, ensure_model, vectorize


JOB_KIND = "theme_run"


MAX_THEMES = 400


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
    from ... import jobs

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
        run.status, run.started_at = ThemeRunStatus.RUNNING, utc_now()
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
        X = load_vectors(session, model, ids)
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
        run.status, run.finished_at = ThemeRunStatus.DONE, utc_now()
        session.flush()
        outbox.study_changed(session, run.study_id)


def run_job(ctx) -> None:
    """The ``theme_run`` job: ``ctx.payload = {"run_id": ...}``. Its run is queued with the
    job, running while it runs, and done or failed with it (``run_failed``): one life cycle,
    the job's, which also takes a run back from a worker that died."""
    from ...extensions import get_db

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
    ordered_texts, groups = texts_and_sources(session, ids)
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
        status=ThemeRunStatus.FAILED, error=error, finished_at=utc_now()))


def runs(session: Session, study_id: int) -> list[ThemeRun]:
    return list(session.scalars(select(ThemeRun).where(ThemeRun.study_id == study_id).order_by(ThemeRun.id.desc())))


def latest_done(session: Session, study_id: int) -> ThemeRun | None:
    return session.scalar(select(ThemeRun).where(ThemeRun.study_id == study_id, ThemeRun.status ==
                                                 ThemeRunStatus.DONE).order_by(ThemeRun.id.desc()).limit(1))


def passages_matching(backend, study_id: int, text: str) -> tuple[int, ...]:
    """The passages of a study a search finds, for a run over a search's results (the page
    and ``themes run --query`` alike). Run it before the run's write transaction: a search
    may take seconds, and nothing needs the write lock while it does."""
    from ... import search

    try:
        matched = tuple(backend.matching_passage_ids(search.SearchQuery(text=text), [study_id]))
    except search.IndexUnavailable as exc:
        raise Conflict(f"{exc} Run themes over a search again in a minute.") from None
    if not matched:
        raise ValidationError(f"No passage of this study matches “{text}”; change the search or "
                              "leave it empty to use every passage.")
    return matched
