"""Where the large public evaluation sets are read from (never copied into the project):
``RESEARCH_REPO_EVAL_DATA``, default ``../shared/data`` beside the checkout. Evaluation
floors and benchmarks read them; every other test uses the fixtures in ``tests/data``."""
from __future__ import annotations

import os
from pathlib import Path

ENV = "RESEARCH_REPO_EVAL_DATA"
DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data"


def root() -> Path:
    """The evaluation data directory (it may not exist: callers say so with this setting's name)."""
    configured = os.environ.get(ENV, "").strip()
    return Path(configured).resolve() if configured else DEFAULT


def missing(*parts: str) -> str | None:
    """None when ``root()/parts`` exists, else a reason that names the setting."""
    path = root().joinpath(*parts)
    if path.exists():
        return None
    return f"evaluation data {path} is missing: set {ENV} to the directory that holds shared/data"
