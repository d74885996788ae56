"""The app factory and its layered, validated configuration."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from research_repo import create_app
from research_repo.config import DEFAULT_SECRET_KEY, ConfigError, ensure_secret_key

from .helpers import TEST_SECRET


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith("RESEARCH_REPO_"):
            monkeypatch.delenv(key)
    instance = tmp_path / "instance"
    instance.mkdir()
    monkeypatch.setenv("RESEARCH_REPO_INSTANCE_PATH", str(instance))
    return instance


def test_factory_touches_no_files(clean_env, tmp_path):
    data = tmp_path / "data"
    app = create_app({"ENVIRONMENT": "test", "DATA_DIR": str(data)})
    assert app.config["DATABASE_URL"] == f"sqlite:///{data / 'research_repo.sqlite3'}"
    # Building the app neither creates the data directory nor opens the database.
    assert not data.exists()


def test_data_dir_defaults_to_instance_folder(clean_env):
    app = create_app({"ENVIRONMENT": "test"})
    assert Path(app.config["DATA_DIR"]) == clean_env.resolve()
    assert app.config["INDEX_DIR"] == str(clean_env.resolve() / "index")


def test_layers_instance_file_then_env_then_test_config(clean_env, monkeypatch):
    (clean_env / "config.py").write_text("ENVIRONMENT = 'test'\nSESSION_HOURS = 3\nLOGIN_MAX_FAILURES_PER_USER = 9\n")
    assert create_app().config["SESSION_HOURS"] == 3
    monkeypatch.setenv("RESEARCH_REPO_SESSION_HOURS", "4")
    app = create_app()
    assert app.config["SESSION_HOURS"] == 4  # environment beats the instance file
    assert app.config["LOGIN_MAX_FAILURES_PER_USER"] == 9  # untouched layers still apply
    assert create_app({"SESSION_HOURS": 5}).config["SESSION_HOURS"] == 5  # test overrides beat all


def test_database_url_from_environment(clean_env, monkeypatch):
    monkeypatch.setenv("RESEARCH_REPO_DATABASE_URL", "postgresql+psycopg://rr@db.internal/rr")
    app = create_app({"ENVIRONMENT": "test"})
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://rr@db.internal/rr"


def test_production_refuses_missing_and_default_secret_key(clean_env):
    with pytest.raises(ConfigError, match="no secret key for production"):
        create_app()
    with pytest.raises(ConfigError, match="no secret key for production"):
        create_app({"SECRET_KEY": DEFAULT_SECRET_KEY})
    with pytest.raises(ConfigError, match="too short"):
        create_app({"SECRET_KEY": "short"})
    assert create_app({"SECRET_KEY": TEST_SECRET}).config["ENVIRONMENT"] == "production"


def test_production_reads_secret_key_written_by_init(clean_env, tmp_path):
    data = tmp_path / "data"
    assert ensure_secret_key(data) is True
    assert ensure_secret_key(data) is False  # never overwritten
    assert (data / "secret_key").stat().st_mode & 0o777 == 0o600
    app = create_app({"DATA_DIR": str(data)})
    assert app.config["SECRET_KEY"] == (data / "secret_key").read_text().strip()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ENVIRONMENT": "staging"}, "RESEARCH_REPO_ENVIRONMENT is 'staging'"),
        ({"DATABASE_URL": "mysql://u:secret@host/db"}, "'host/db' is not supported"),
        ({"SESSION_HOURS": "eight"}, "RESEARCH_REPO_SESSION_HOURS must be a whole number"),
        ({"SESSION_HOURS": 0}, "RESEARCH_REPO_SESSION_HOURS must be at least 1"),
        ({"LOGIN_MAX_FAILURES_PER_USER": -1}, "LOGIN_MAX_FAILURES_PER_USER must be a whole number >= 0"),
        ({"THEME_VECTORS": "bert"}, "RESEARCH_REPO_THEME_VECTORS is 'bert'; use lsa or minilm"),
        ({"SEARCH_BACKEND": "elastic"}, "RESEARCH_REPO_SEARCH_BACKEND is 'elastic'; use one of: postgres, whoosh"),
        ({"SEARCH_BACKEND": "postgres", "DATABASE_URL": "sqlite:///x.sqlite3"},
         "SEARCH_BACKEND is postgres, which searches inside the database"),
        ({"JOB_LEASE_SECONDS": 0}, "RESEARCH_REPO_JOB_LEASE_SECONDS must be at least 1"),
    ],
)
def test_invalid_settings_are_named(clean_env, override, message):
    with pytest.raises(ConfigError) as info:
        create_app({"ENVIRONMENT": "test", **override})
    assert message in str(info.value)
    assert "secret" not in str(info.value)  # the password in a URL is never echoed


def test_env_values_are_parsed(clean_env, monkeypatch):
    monkeypatch.setenv("RESEARCH_REPO_ENVIRONMENT", "test")
    monkeypatch.setenv("RESEARCH_REPO_HTTPS", "true")
    app = create_app()
    assert app.config["HTTPS"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")
