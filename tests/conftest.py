"""Fixtures: a fresh migrated database per test (SQLite, or PostgreSQL when
RESEARCH_REPO_TEST_DATABASE_URL names a server), the app, clients, and factories."""
from __future__ import annotations

import itertools
from pathlib import Path
import os
import shutil

import pytest
from sqlalchemy import create_engine

from research_repo import create_app, schema
from research_repo.extensions import get_db
from research_repo.models import Method, Role
from research_repo.services import accounts, studies

from nlp import evaldata

from .helpers import PASSWORD, TEST_SECRET, login

REQUIRE_EVAL_DATA = "RESEARCH_REPO_REQUIRE_EVAL_DATA"
# A PostgreSQL server where the suite may create databases (postgresql+psycopg://USER@HOST:PORT/DB):
# each test then gets a database of its own, copied from a migrated template. Unset: SQLite.
TEST_DATABASE_URL = "RESEARCH_REPO_TEST_DATABASE_URL"
# The search back end of the app under test (default whoosh; postgres needs TEST_DATABASE_URL).
TEST_SEARCH_BACKEND = "RESEARCH_REPO_TEST_SEARCH_BACKEND"


def pytest_runtest_setup(item):
    """``@pytest.mark.eval_data("deid")``: the test reads that part of the public evaluation data.
    Without it the test skips with the setting to fix; with RESEARCH_REPO_REQUIRE_EVAL_DATA set
    (as .ci/run does) it fails instead, so CI always runs the evaluation floors."""
    for mark in item.iter_markers("sqlite_only"):
        if os.environ.get(TEST_DATABASE_URL):
            pytest.skip(f"SQLite only: {mark.args[0]}")
    for mark in item.iter_markers("whoosh_only"):
        if os.environ.get(TEST_SEARCH_BACKEND, "whoosh") != "whoosh":
            pytest.skip(f"Whoosh only: {mark.args[0]}")
    for mark in item.iter_markers("eval_data"):
        reason = evaldata.missing(*mark.args)
        if reason and os.environ.get(REQUIRE_EVAL_DATA):
            pytest.fail(f"{reason} ({REQUIRE_EVAL_DATA} is set)", pytrace=False)
        if reason:
            pytest.skip(reason)


def _postgres_admin():
    from sqlalchemy.engine import make_url

    url = make_url(os.environ[TEST_DATABASE_URL])
    return url, create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(autouse=True)
def _dispose_databases(monkeypatch):
    """Every Database a test makes (its app's, a second app's, a command's) is disposed when the
    test ends, so no pooled connection is left to the garbage collector (psycopg warns then, and
    warnings are errors here)."""
    from research_repo.db import Database

    made: list = []
    original = Database.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Database, "__init__", init)
    yield
    for database in made:
        database.dispose()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A database migrated to head once per session; each test copies it (fast and exact): a
    SQLite file, or on PostgreSQL a template database (``TEST_DATABASE_URL``)."""
    if os.environ.get(TEST_DATABASE_URL):
        url, admin = _postgres_admin()
        name = f"rr_template_{os.getpid()}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine = create_engine(url.set(database=name))
        schema.upgrade(engine)
        _store_uncompressed(engine)
        engine.dispose()
        yield name
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
        return
    path = tmp_path_factory.mktemp("template") / "research_repo.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    yield path


_databases = itertools.count(1)


def _store_uncompressed(engine) -> None:
    """Test databases keep long values uncompressed (STORAGE EXTERNAL): PostgreSQL compresses a
    value over about 2 kB (pglz), and a byte search of its files (``stored_files``) would then
    pass without seeing the value at all."""
    with engine.begin() as conn:
        columns = conn.exec_driver_sql(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea')").all()
        for table, column in columns:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STORAGE EXTERNAL')


def _server_files(database_url: str, since_lsn: str | None) -> list[Path]:
    """The files PostgreSQL keeps this database in (after a CHECKPOINT, so what it holds in
    memory is on disk), and, from ``since_lsn`` on, its write-ahead log. The server must run on
    this machine with its files readable: a byte search that cannot see them fails, never passes."""
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            root = Path(conn.exec_driver_sql("SHOW data_directory").scalar())
            oid = conn.exec_driver_sql("SELECT oid FROM pg_database WHERE datname = current_database()").scalar()
            wal = []
            if since_lsn is not None:
                first, last = (conn.exec_driver_sql(f"SELECT pg_walfile_name('{lsn}')").scalar()
                               for lsn in (since_lsn, conn.exec_driver_sql("SELECT pg_current_wal_lsn()").scalar()))
                wal = sorted(p for p in (root / "pg_wal").iterdir() if p.is_file() and len(p.name) == 24
                             and first <= p.name <= last)
                # The server must keep its log (wal_keep_size, as .ci/run starts it), or a
                # checkpoint may have recycled what the test wrote.
                assert wal and wal[0].name == first, f"WAL segment {first} is gone: start the server with wal_keep_size"
            conn.exec_driver_sql("CHECKPOINT")  # what the server holds in memory goes to its files
    finally:
        engine.dispose()
    own = root / "base" / str(oid)
    assert own.is_dir(), f"the byte search needs PostgreSQL's files ({own}): run the server on this machine"
    return [p for p in own.iterdir() if p.is_file()] + wal


@pytest.fixture
def stored_files(data_dir, database_url):
    """Every file that holds what this test stored: its data directory (the SQLite database,
    its WAL, the search index, logs), and on PostgreSQL the server's files for this test's
    database, with the write-ahead log written since the test began (``wal=False`` leaves the
    log out: it keeps the old value of a redaction until the server recycles it, as README says)."""
    since = None
    if database_url:
        engine = create_engine(database_url)
        with engine.connect() as conn:
            since = conn.exec_driver_sql("SELECT pg_current_wal_lsn()").scalar()
        engine.dispose()

    def files(*, wal: bool = True) -> list[Path]:
        found = [p for p in data_dir.rglob("*") if p.is_file()]
        if database_url:
            found += _server_files(database_url, since if wal else None)
        return found

    return files


def _own_database(template: str | None, prefix: str = "rr_test"):
    """A PostgreSQL database of its own, copied from ``template`` (the migrated one) or empty,
    dropped after (a generator yielding its URL)."""
    url, admin = _postgres_admin()
    name = f"{prefix}_{os.getpid()}_{next(_databases)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture
def database_url(tmp_path, migrated_db):
    """This test's database: None for the SQLite file in its data directory (``data_dir``), or
    the URL of a PostgreSQL database of its own, dropped after the test."""
    if not os.environ.get(TEST_DATABASE_URL):
        yield None
        return
    yield from _own_database(migrated_db)


@pytest.fixture(scope="module")
def module_database_url(migrated_db):
    """A PostgreSQL database shared by one module's tests (a search index built once), or None."""
    if not os.environ.get(TEST_DATABASE_URL):
        yield None
        return
    yield from _own_database(migrated_db)


@pytest.fixture
def empty_database_url():
    """A PostgreSQL database of this test's own with no tables (a command that creates the
    schema itself, as `demo` does), dropped after the test; None on SQLite."""
    if not os.environ.get(TEST_DATABASE_URL):
        yield None
        return
    yield from _own_database(None, "rr_empty")


@pytest.fixture
def data_dir(tmp_path, migrated_db, database_url):
    data = tmp_path / "data"
    data.mkdir()
    if database_url is None:
        shutil.copy(migrated_db, data / "research_repo.sqlite3")
    return data


@pytest.fixture
def app_config(data_dir, database_url):
    # Fewer PBKDF2 iterations than production (600,000, which production requires): the suite
    # signs in hundreds of times. test_auth checks the production hash.
    config = {"ENVIRONMENT": "test", "SECRET_KEY": TEST_SECRET, "DATA_DIR": str(data_dir),
              "PASSWORD_HASH_ITERATIONS": 1000}
    if database_url:
        config["DATABASE_URL"] = database_url
    if os.environ.get(TEST_SEARCH_BACKEND):
        config["SEARCH_BACKEND"] = os.environ[TEST_SEARCH_BACKEND]
    return config


@pytest.fixture
def app(app_config, monkeypatch):
    # Start from a clean environment: a developer's RESEARCH_REPO_* must not leak into tests.
    import os

    for key in list(os.environ):
        if key.startswith("RESEARCH_REPO_"):
            monkeypatch.delenv(key)
    app = create_app(app_config)
    yield app
    get_db(app).dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    return get_db(app)


@pytest.fixture
def make_user(db):
    def make(username: str, role: Role = Role.RESEARCHER, password: str = PASSWORD, active: bool = True):
        with db.writing() as session:
            user = accounts.create_user(session, None, username=username, display_name=username.title(),
                                        password=password, role=role)
            user.is_active = active
        return user

    return make


@pytest.fixture
def make_study(db):
    def make(name: str, by, *, members: dict | None = None, service: str = "Retirement Services"):
        with db.writing() as session:
            actor = session.merge(by)
            study = studies.create_study(session, actor, studies.StudyInput(
                name=name, method=Method.INTERVIEWS, service=service, omb_control_number="3206-0001",
            ))
            for username, role in (members or {}).items():
                studies.set_member(session, actor, study.id, username, role)
        return study

    return make


@pytest.fixture
def signed_in(client, make_user):
    """Create a user of the given role and sign the test client in as them."""

    def sign_in(username: str = "alex", role: Role = Role.RESEARCHER):
        user = make_user(username, role)
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return sign_in
