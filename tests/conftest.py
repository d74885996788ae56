"""Fixtures: a fresh migrated SQLite database per test, the app, clients, and factories."""
from __future__ import annotations

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


def pytest_runtest_setup(item):
    """``@pytest.mark.eval_data("deid")``: the test reads that part of the public evaluation data.
    Without it the test skips with the setting to fix; with RESEARCH_REPO_REQUIRE_EVAL_DATA set
    (as .ci/run does) it fails instead, so CI always runs the evaluation floors."""
    for mark in item.iter_markers("eval_data"):
        reason = evaldata.missing(*mark.args)
        if reason and os.environ.get(REQUIRE_EVAL_DATA):
            pytest.fail(f"{reason} ({REQUIRE_EVAL_DATA} is set)", pytrace=False)
        if reason:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A database migrated to head once per session; each test copies it (fast and exact)."""
    path = tmp_path_factory.mktemp("template") / "research_repo.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def data_dir(tmp_path, migrated_db):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(migrated_db, data / "research_repo.sqlite3")
    return data


@pytest.fixture
def app_config(data_dir):
    # Fewer PBKDF2 iterations than production (600,000, which production requires): the suite
    # signs in hundreds of times. test_auth checks the production hash.
    return {"ENVIRONMENT": "test", "SECRET_KEY": TEST_SECRET, "DATA_DIR": str(data_dir), "PASSWORD_HASH_ITERATIONS": 1000}


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
