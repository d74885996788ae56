"""Setting up and running: `init`, `demo` (invented data in a folder of its own), `serve`
(waitress, with the embedded worker and index writer) and `worker`."""
from __future__ import annotations

import faulthandler
import os
import shutil
import signal
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, with_appcontext
from sqlalchemy import select

from .. import config, create_app, jobs, proc, schema
from ..extensions import get_db
from ..search import indexer
from ..search.indexer import IndexWriterThread
from ..models import Role, Study, User
from ..services import accounts, fixtures, ingest
from ..services.errors import DomainError
from .common import app_from_environment, fail, require_schema


DEMO_MARKER = ".research-repo-demo"


def stacks_on_signal() -> None:
    """``kill -USR1 PID`` prints every thread's stack to stderr: how to see where a server or
    worker that stopped answering is waiting, without stopping it (no request data is printed)."""
    if not hasattr(signal, "SIGUSR1"):
        return
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return  # no file descriptor to print to (a test's captured stderr)
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)


def initialize(app: Flask, *, admin_username: str | None, admin_password: str | None, admin_name: str | None) -> list[str]:
    """Create or upgrade the database, load reference data, create the first admin."""
    Path(app.config["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    db = get_db(app)
    schema.upgrade(db.engine)
    said = [f"Database ready at revision {schema.current_revision(db.engine)} ({app.config['DATA_DIR']})."]
    with db.writing() as session:
        added = fixtures.load_learning_agenda(session, None)
        said.append(f"Learning-agenda questions added: {added}.")
        if admin_username:
            if not admin_password:
                raise click.ClickException("Give the admin's password with --admin-password or RESEARCH_REPO_ADMIN_PASSWORD.")
            exists = session.query(User).filter_by(username=admin_username.strip().lower()).one_or_none()
            if exists is None:
                try:
                    accounts.create_user(
                        session, None, username=admin_username, display_name=admin_name or admin_username,
                        password=admin_password, role=Role.ADMIN,
                    )
                except DomainError as exc:
                    raise fail(exc) from exc
                said.append(f"Administrator {admin_username!r} created.")
            else:
                said.append(f"User {admin_username!r} already exists; left as it is.")
    return said


def serve_app(app: Flask, host: str, port: int, threads: int) -> None:
    import waitress

    require_schema(app)
    stacks_on_signal()
    proc.single_threaded_blas()  # before any thread starts (see proc)
    proc.start_fork_server()
    with get_db(app).writing() as session:
        # Imports whose process died (kill -9, power loss) are marked resumable.
        ingest.mark_interrupted(session)
    worker = None
    index_writer = None
    if app.config["EMBEDDED_WORKER"]:
        worker = jobs.Worker(app)
        worker.start_thread()
        index_writer = IndexWriterThread(app).start()
    click.echo(f"Serving on http://{host}:{port} (data in {app.config['DATA_DIR']}); press Ctrl+C to stop.")
    try:
        proxies = app.config["TRUSTED_PROXIES"]
        # Waitress drops X-Forwarded-* unless told which peer sends them; then it sets the client
        # address from them itself (ProxyFix, for other servers, agrees: the same hop count).
        behind = dict(trusted_proxy=app.config["TRUSTED_PROXY_ADDRESS"], trusted_proxy_count=proxies,
                      trusted_proxy_headers="x-forwarded-for x-forwarded-proto x-forwarded-host",
                      clear_untrusted_proxy_headers=True) if proxies else {}
        waitress.serve(app, host=host, port=port, threads=threads, ident="research-repo", **behind)
    finally:
        if worker:
            worker.stop()
        if index_writer:
            index_writer.stop()


@click.command("init")
@click.option("--admin-username", envvar="RESEARCH_REPO_ADMIN_USERNAME", help="Create this administrator if missing.")
@click.option("--admin-password", envvar="RESEARCH_REPO_ADMIN_PASSWORD", help="Password for the new administrator.")
@click.option("--admin-name", envvar="RESEARCH_REPO_ADMIN_NAME", help="Display name for the new administrator.")
@click.pass_context
def init_command(ctx: click.Context, admin_username, admin_password, admin_name) -> None:
    """Create or upgrade the database (and the secret key), and optionally the first admin."""
    info = ctx.ensure_object(ScriptInfo)
    if info.create_app is app_from_environment and not os.environ.get("RESEARCH_REPO_SECRET_KEY"):
        # Production refuses to start without a key, so init writes one before building the app.
        if config.ensure_secret_key(config.default_data_dir()):
            click.echo(f"Secret key written to {config.default_data_dir() / config.SECRET_KEY_FILE}.")
    app = info.load_app()
    for line in initialize(app, admin_username=admin_username, admin_password=admin_password, admin_name=admin_name):
        click.echo(line)


@click.command("demo")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Fresh directory for the demo (default: demo/ inside the data directory). Emptied first.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--serve/--no-serve", default=True, help="Start the server after loading (default: yes).")
def demo_command(data_dir: Path | None, host: str, port: int, serve: bool) -> None:
    """Load the demo study into a fresh data directory and serve it."""
    data_dir = (data_dir or config.default_data_dir() / "demo").resolve()
    earlier = ""
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / DEMO_MARKER).exists():
            raise click.ClickException(f"{data_dir} holds data that is not a demo; give --data-dir an empty directory.")
        earlier = (data_dir / DEMO_MARKER).read_text(encoding="utf-8", errors="replace")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    config.ensure_secret_key(data_dir)
    # The database RESEARCH_REPO_DATABASE_URL names (PostgreSQL), else SQLite in the data directory.
    app = create_app({"DATA_DIR": str(data_dir)})
    db = get_db(app)
    try:
        where = db.engine.url.render_as_string(hide_password=True)
        if schema.current_revision(db.engine) is not None:
            if f"database: {where}\n" not in earlier:
                shutil.rmtree(data_dir)  # made just now for this run: leave nothing behind
                raise click.ClickException(
                    f"{db.engine.url.database!r} already holds tables that the demo did not make; "
                    "give the demo an empty database (RESEARCH_REPO_DATABASE_URL).")
            schema.downgrade(db.engine, "base")  # this demo's own database: start over
        (data_dir / DEMO_MARKER).write_text("Created by `research-repo demo`; emptied each time it runs.\n"
                                            f"database: {where}\n", encoding="utf-8")
        schema.upgrade(db.engine)
        with get_db(app).writing() as session:
            counts = fixtures.load_demo(session)
        click.echo(
            f"Demo loaded into {data_dir}: {counts['studies']} study, {counts['sources']} sources, "
            f"{counts['passages']} passages."
        )
        _demo_themes(app)
        with get_db(app).writing() as session:
            made = fixtures.load_demo_synthesis(session)
        click.echo(f"Synthesis: {made['tags']} tags, {made['highlights']} highlights, {made['insights']} insight "
                   "answering OPM Q11.")
        click.echo("Sign in as admin / demo-admin-password (or researcher, analyst, viewer / demo-ROLE-password).")
        if serve:
            serve_app(app, host, port, threads=8)
    finally:
        db.dispose()


def _demo_themes(app: Flask) -> None:
    """A first theme run on the demo study, so its Themes page has something to review."""
    from ..services import themes

    db = get_db(app)
    with db.writing() as session:
        actor = session.scalar(select(User).where(User.username == "researcher"))
        study = session.scalar(select(Study).order_by(Study.id).limit(1))
        try:
            run_id = themes.start_run(session, actor, study, themes.RunOptions(), enqueue=False).id
        except DomainError as exc:
            click.echo(f"No demo theme run: {exc.message}")
            return
    themes.execute_run(db, run_id)
    with db.read_session() as session:
        run = session.get(themes.ThemeRun, run_id)
        click.echo(f"Themes: run {run.id} proposes {run.quality['k']} themes over {run.passage_count} passages.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the app with a production WSGI server (waitress)."""
    serve_app(current_app._get_current_object(), host, port, threads)


@click.command("worker")
@click.option("--until-idle", is_flag=True, help="Stop when no job is waiting instead of polling forever.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between polls when idle.")
@with_appcontext
def worker_command(until_idle: bool, poll: float) -> None:
    """Run background jobs (imports, reindexing, theme runs)."""
    app = current_app._get_current_object()
    require_schema(app)
    stacks_on_signal()
    proc.single_threaded_blas()  # as in serve: its jobs start children while other threads run
    proc.start_fork_server()
    if until_idle:
        done = jobs.Worker(app, poll_seconds=poll).run(until_idle=True)
        drained = indexer.drain_all(app)
        click.echo(f"Jobs run: {done}. Index changes applied: {drained}.")
        return
    index_writer = IndexWriterThread(app).start()
    try:
        done = jobs.Worker(app, poll_seconds=poll).run()
    finally:
        index_writer.stop()
    click.echo(f"Jobs run: {done}.")
