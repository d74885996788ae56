"""The research-repo command, through the CLI runner and as a real process."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from research_repo import create_app, jobs, schema
from research_repo.cli import main
from research_repo.extensions import get_db
from research_repo.models import LearningAgendaQuestion, Passage, Role, Source, Study, Theme, User

from .helpers import TEST_SECRET
from .http_client import free_port


def _invoke(app, *args, **kwargs):
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app), **kwargs)


@pytest.fixture
def fresh_app(tmp_path):
    app = create_app({"ENVIRONMENT": "test", "SECRET_KEY": TEST_SECRET, "DATA_DIR": str(tmp_path / "fresh")})
    yield app
    get_db(app).dispose()


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEARCH_REPO_")}
    return {**env, "RESEARCH_REPO_DATA_DIR": str(tmp_path / "data"), **extra}


def test_init_creates_database_and_admin_then_is_idempotent(fresh_app):
    result = _invoke(fresh_app, "init", "--admin-username", "boss", "--admin-password", "a long enough password")
    assert result.exit_code == 0, result.output
    assert "Administrator 'boss' created." in result.output
    assert schema.current_revision(get_db(fresh_app).engine) == schema.head_revision()
    again = _invoke(fresh_app, "init", "--admin-username", "boss", "--admin-password", "a long enough password")
    assert again.exit_code == 0 and "already exists; left as it is" in again.output
    with get_db(fresh_app).read_session() as s:
        assert s.scalar(select(User.role).where(User.username == "boss")) is Role.ADMIN
        assert s.scalar(select(LearningAgendaQuestion.number)) == "Q11"


def test_init_on_a_fresh_machine_writes_secret_key(tmp_path):
    """Production mode, nothing configured: init makes the key, then the app starts."""
    env = _env(tmp_path, RESEARCH_REPO_ADMIN_USERNAME="boss", RESEARCH_REPO_ADMIN_PASSWORD="a long enough password")
    out = subprocess.run([sys.executable, "-m", "research_repo.cli", "init"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Secret key written to" in out.stdout and "Administrator 'boss' created." in out.stdout
    assert (tmp_path / "data" / "secret_key").stat().st_size > 40
    assert (tmp_path / "data" / "research_repo.sqlite3").exists()


def test_help_on_a_fresh_machine_lists_every_command_without_a_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "research_repo.cli", "--help"], env=_env(tmp_path),
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""
    for command in ("init", "demo", "serve", "worker", "import", "imports", "export", "deidentify", "users",
                    "studies", "reindex", "search", "themes"):
        assert f"\n  {command} " in out.stdout, command
    assert "--app" not in out.stdout  # Flask's own options mean nothing here
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())  # nothing written


def test_commands_that_need_the_app_explain_a_missing_key(tmp_path):
    out = subprocess.run([sys.executable, "-m", "research_repo.cli", "worker", "--until-idle"],
                         env=_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 1
    assert "no secret key for production" in out.stderr and "Traceback" not in out.stderr


def test_users_and_studies_create(app, db):
    result = _invoke(app, "users", "create", "rae", "--role", "researcher", "--password", "a long enough password")
    assert result.exit_code == 0, result.output
    result = _invoke(app, "studies", "create", "Ticket review", "--service", "USAJOBS", "--by", "rae",
                     "--omb-control-number", "3206-0001")
    assert result.exit_code == 0, result.output
    with db.read_session() as s:
        study = s.scalar(select(Study).where(Study.name == "Ticket review"))
    assert study.service == "USAJOBS"
    bad = _invoke(app, "studies", "create", "Ticket review", "--service", "USAJOBS", "--by", "rae")
    assert bad.exit_code == 1 and "already exists" in bad.output
    weak = _invoke(app, "users", "create", "sam", "--password", "short")
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output


def test_demo_loads_into_a_fresh_directory_and_refuses_real_data(tmp_path, monkeypatch, empty_database_url):
    for key in list(os.environ):
        if key.startswith("RESEARCH_REPO_"):
            monkeypatch.delenv(key)
    database_url = empty_database_url
    if database_url:  # PostgreSQL: the demo loads into the database RESEARCH_REPO_DATABASE_URL names
        monkeypatch.setenv("RESEARCH_REPO_DATABASE_URL", database_url)
    target = tmp_path / "demo"
    for _ in range(2):  # running it again starts over, not on top
        result = CliRunner().invoke(main, ["demo", "--data-dir", str(target), "--no-serve"])
        assert result.exit_code == 0, result.output
        assert "1 study, 6 sources, 22 passages" in result.output
        # The Themes page has a first run to review (moderator turns are not clustered).
        assert "Themes: run 1 proposes" in result.output and "over 15 passages" in result.output
        assert "Synthesis: 2 tags, 4 highlights, 1 insight answering OPM Q11." in result.output
    app = create_app({"DATA_DIR": str(target)})
    with get_db(app).read_session() as s:
        assert s.query(Source).count() == 6 and s.query(Passage).count() == 22
        assert s.query(Theme).filter(Theme.run_id == 1).count() >= 2
        from research_repo.models import Insight

        # The demo's own insight once read "[PERSON_1] on interim pay...".
        assert s.query(Insight).one().statement.startswith("Annuitants on interim pay are not told why")
    # The demo's synthesis exports from the command line; the project validates.
    for fmt in ("qdpx", "highlights.csv", "brief.docx"):
        out = tmp_path / f"demo-{fmt}"
        result = _invoke(app, "export", "--study", "Retirement Services: first year of annuity", "--format", fmt,
                         "--out", str(out))
        assert result.exit_code == 0 and "Wrote" in result.output, result.output
    import zipfile

    from lxml import etree

    xsd = Path(__file__).resolve().parent / "data" / "refi-qda" / "Project.xsd"
    with zipfile.ZipFile(tmp_path / "demo-qdpx") as z:
        doc = etree.fromstring(z.read("project.qde"))
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(doc), schema.error_log
    assert len(doc.findall(".//{urn:QDA-XML:project:1.0}PlainTextSelection")) == 4
    assert (tmp_path / "demo-highlights.csv").read_text().count("\n") == 5
    again = _invoke(app, "export", "--study", "Retirement Services: first year of annuity", "--format", "qdpx",
                    "--out", str(tmp_path / "demo-qdpx"))
    assert again.exit_code == 1 and "exists" in again.output
    # A theme run over a search's results, from the command line (the search runs before the
    # run's write transaction).
    study = "Retirement Services: first year of annuity"
    assert _invoke(app, "reindex").exit_code == 0
    run = _invoke(app, "themes", "run", "--study", study, "--by", "researcher", "--k", "2", "--query", "payment OR letter OR call OR annuity OR retirement OR pay")
    assert run.exit_code == 0, run.output
    with get_db(app).read_session() as s:
        ran = s.query(Theme.run_id).order_by(Theme.run_id.desc()).first()[0]
    assert f"Theme run {ran}:" in run.output and "2 themes (given)" in run.output
    none = _invoke(app, "themes", "run", "--study", study, "--by", "researcher", "--query", "zeppelin")
    assert none.exit_code == 1 and "No passage of this study matches" in none.output
    token = _invoke(app, "users", "token", "analyst", "--name", "notebook")
    assert token.exit_code == 0, token.output
    secret = token.output.strip().splitlines()[-1]
    response = app.test_client().get("/api/v1/studies", headers={"Authorization": f"Bearer {secret}"})
    assert [s["name"] for s in response.get_json()["studies"]] == ["Retirement Services: first year of annuity"]
    get_db(app).dispose()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "research_repo.sqlite3").write_text("real data")
    refused = CliRunner().invoke(main, ["demo", "--data-dir", str(precious), "--no-serve"])
    assert refused.exit_code == 1 and "not a demo" in refused.output
    # A fresh data directory pointed at a database that holds data: refused, and the data stays.
    monkeypatch.setenv("RESEARCH_REPO_DATABASE_URL", database_url or f"sqlite:///{target / 'research_repo.sqlite3'}")
    elsewhere = CliRunner().invoke(main, ["demo", "--data-dir", str(tmp_path / "elsewhere"), "--no-serve"])
    assert elsewhere.exit_code == 1 and "give the demo an empty database" in elsewhere.output
    kept = get_db(create_app({"DATA_DIR": str(target)}))
    with kept.read_session() as s:
        assert s.query(Passage).count() == 22
    kept.dispose()
    assert not (tmp_path / "elsewhere").exists()
    assert (precious / "research_repo.sqlite3").read_text() == "real data"


def test_worker_runs_queued_jobs(app, db):
    ran = []
    jobs.register(app, "note", lambda ctx: ran.append(ctx.payload["x"]))
    with db.writing() as s:
        jobs.enqueue(s, "note", {"x": 1})
        jobs.enqueue(s, "note", {"x": 2})
    result = _invoke(app, "worker", "--until-idle")
    assert result.exit_code == 0 and "Jobs run: 2." in result.output
    assert ran == [1, 2]


def test_serve_answers_with_a_production_server(tmp_path):
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-m", "research_repo.cli", "init"], env=env, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "research_repo.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                    assert response.status == 200
                    assert response.headers["Server"] == "research-repo"  # waitress, not the dev server
                    break
            except OSError:
                assert time.monotonic() < deadline, "server did not answer within 20 s"
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_serve_refuses_an_uninitialised_database(fresh_app):
    result = _invoke(fresh_app, "serve")
    assert result.exit_code == 1 and "run `research-repo init` first" in result.output


def test_deidentify_prints_redacted_text_and_counts(tmp_path):
    note = tmp_path / "interview.txt"
    note.write_text("MARIA: My claim is CSA 1234567 and my phone is 202-555-0143.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["deidentify", str(note)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[PERSON_1]: My claim is [CLAIM_1] and my phone is [PHONE_1].")
    assert '{"counts": {"CLAIM": 1, "PERSON": 1, "PHONE": 1}}' in result.stderr
    assert "1234567" not in result.stderr and "MARIA" not in result.stdout


def test_deidentify_rejects_text_that_is_not_utf8(tmp_path):
    bad = tmp_path / "legacy.txt"
    bad.write_bytes("Jos\xe9 called".encode("cp1252"))
    result = CliRunner().invoke(main, ["deidentify", str(bad)])
    assert result.exit_code == 1 and "not UTF-8 text (byte 3)" in result.output
