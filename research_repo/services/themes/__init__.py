"""Themes: passage vectors stored once (``vectors``), runs as jobs over a chosen set of
passages whose themes keep their identity across runs (``runs``), new passages placed into
accepted themes (``placement``), and review actions that are audited and undoable
(``review``). Callers use the names below."""
from __future__ import annotations

from ...models import ThemeRun
from .placement import CANDIDATE_MIN_SIZE, CANDIDATE_POOL, assign_new, place_job, propose_candidates
from .review import (
    ThemeView, actions, map_points, merge, move_passage, rename, review, set_status, split, undo,
)
from .runs import (
    INTERVIEWER_ROLES, JOB_KIND, MAX_THEMES, RunOptions, RunScope, execute_run, fail_run, latest_done,
    library_versions, passages_matching, run_failed, run_job, runs, scope_passages, start_run,
)
from .vectors import (
    LSA, MINILM, VECTOR_BATCH, current_model, ensure_model, fit_model, vectorize, vectorize_stored, vectorizer_for,
)

__all__ = [
    "CANDIDATE_MIN_SIZE", "CANDIDATE_POOL", "INTERVIEWER_ROLES", "JOB_KIND", "LSA", "MAX_THEMES", "MINILM",
    "RunOptions", "RunScope", "ThemeRun", "ThemeView", "VECTOR_BATCH", "actions", "assign_new", "current_model",
    "ensure_model", "execute_run", "fail_run", "fit_model", "latest_done", "library_versions", "map_points",
    "merge", "move_passage", "passages_matching", "place_job", "propose_candidates", "rename", "review",
    "run_failed", "run_job", "runs", "scope_passages", "set_status", "split", "start_run", "undo", "vectorize",
    "vectorize_stored", "vectorizer_for",
]
