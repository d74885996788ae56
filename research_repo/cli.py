"""The `research-repo` command: thin click wrappers over services."""
from __future__ import annotations

import html
import logging
import os
import re
import shutil
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from . import access, config, create_app, jobs, schema
from .extensions import get_db
from sqlalchemy import select

from .ingest import mapping as ingest_mapping
from .search import indexer
from .search.indexer import IndexWriterThread
from .models import ImportRun, Method, Role, SourceKind, Study, User
from .services import accounts, fixtures, ingest, studies
from .services.errors import DomainError, NotFound
from .services.exports import FORMATS as EXPORT_FORMATS

DEMO_MARKER = ".research-repo-demo"


def _fail(exc: DomainError) -> click.ClickException:
    return click.ClickException(exc.message)


def _user(session, username: str) -> User:
    user = session.query(User).filter_by(username=username.strip().lower()).one_or_none()
    if user is None:
        raise click.ClickException(f"No user named {username!r}; create one with `research-repo users create`.")
    return user


def _study(session, name: str) -> Study:
    try:
        return studies.get_by_name(session, name)
    except NotFound as exc:
        # The person at the terminal typed the name; saying it back stores it nowhere.
        raise click.ClickException(f"No study named {name!r}.") from exc
    except DomainError as exc:
        raise _fail(exc) from exc


def _require_schema(app: Flask) -> None:
    engine = get_db(app).engine
    # Checking must not create an empty SQLite file where none was.
    missing = engine.url.get_backend_name() == "sqlite" and not Path(engine.url.database or "").is_file()
    if missing or schema.current_revision(engine) != schema.head_revision():
        raise click.ClickException(
            f"The database at {app.config['DATA_DIR']} is missing or out of date; run `research-repo init` first."
        )


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
                    raise _fail(exc) from exc
                said.append(f"Administrator {admin_username!r} created.")
            else:
                said.append(f"User {admin_username!r} already exists; left as it is.")
    return said


def serve_app(app: Flask, host: str, port: int, threads: int) -> None:
    import waitress

    _require_schema(app)
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


def _cli_create_app() -> Flask:
    try:
        return create_app()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(cls=FlaskGroup, create_app=_cli_create_app, add_default_commands=False, load_dotenv=False)
def main() -> None:
    """research_repo: a qualitative research repository for federal CX teams."""
    # Everything a command writes (database, WAL, index segments, exports) is readable by its
    # owner only: de-identified evidence is still a study's data.
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command("init", with_appcontext=False)
@click.option("--admin-username", envvar="RESEARCH_REPO_ADMIN_USERNAME", help="Create this administrator if missing.")
@click.option("--admin-password", envvar="RESEARCH_REPO_ADMIN_PASSWORD", help="Password for the new administrator.")
@click.option("--admin-name", envvar="RESEARCH_REPO_ADMIN_NAME", help="Display name for the new administrator.")
@click.pass_context
def init_command(ctx: click.Context, admin_username, admin_password, admin_name) -> None:
    """Create or upgrade the database (and the secret key), and optionally the first admin."""
    info = ctx.ensure_object(ScriptInfo)
    if info.create_app is _cli_create_app and not os.environ.get("RESEARCH_REPO_SECRET_KEY"):
        # Production refuses to start without a key, so init writes one before building the app.
        if config.ensure_secret_key(config.default_data_dir()):
            click.echo(f"Secret key written to {config.default_data_dir() / config.SECRET_KEY_FILE}.")
    app = info.load_app()
    for line in initialize(app, admin_username=admin_username, admin_password=admin_password, admin_name=admin_name):
        click.echo(line)


@main.command("demo", with_appcontext=False)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Fresh directory for the demo (default: demo/ inside the data directory). Emptied first.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--serve/--no-serve", default=True, help="Start the server after loading (default: yes).")
def demo_command(data_dir: Path | None, host: str, port: int, serve: bool) -> None:
    """Load the demo study into a fresh data directory and serve it."""
    data_dir = (data_dir or config.default_data_dir() / "demo").resolve()
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / DEMO_MARKER).exists():
            raise click.ClickException(f"{data_dir} holds data that is not a demo; give --data-dir an empty directory.")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DEMO_MARKER).write_text("Created by `research-repo demo`; emptied each time it runs.\n")
    config.ensure_secret_key(data_dir)
    app = create_app({"DATA_DIR": str(data_dir), "DATABASE_URL": None})
    schema.upgrade(get_db(app).engine)
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


def _demo_themes(app: Flask) -> None:
    """A first theme run on the demo study, so its Themes page has something to review."""
    from .services import themes

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


@main.command("deidentify", with_appcontext=False)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--summary-only", is_flag=True, help="Print only the counts of what was replaced.")
def deidentify_command(paths: tuple[Path, ...], summary_only: bool) -> None:
    """Print each text file de-identified, then its redaction summary (never the values)."""
    import json

    from nlp.deid import Deidentifier

    engine = Deidentifier().fit()
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"{path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8 first.") from None
        result = engine.deidentify(text)
        if len(paths) > 1:
            click.echo(f"==> {path.name} <==")
        if not summary_only:
            click.echo(result.text)
        click.echo(json.dumps({"counts": result.counts}, sort_keys=True), err=not summary_only)


def init_app(app: Flask) -> None:
    app.cli.add_command(users_group)
    app.cli.add_command(studies_group)
    app.cli.add_command(serve_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(import_command)
    app.cli.add_command(imports_group)
    app.cli.add_command(reindex_command)
    app.cli.add_command(search_command)
    app.cli.add_command(themes_group)
    app.cli.add_command(export_command)


@click.group("users")
def users_group() -> None:
    """Manage user accounts."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.RESEARCHER.value, show_default=True)
@click.option("--display-name", help="Name shown in the app (default: the username).")
@click.option("--password", envvar="RESEARCH_REPO_NEW_USER_PASSWORD", prompt=True, hide_input=True,
              confirmation_prompt=True, help="At least 12 characters; prompted for if not given.")
@with_appcontext
def users_create(username: str, role: str, display_name: str | None, password: str) -> None:
    """Create a user account."""
    with get_db().writing() as session:
        try:
            user = accounts.create_user(session, None, username=username, display_name=display_name or username,
                                        password=password, role=Role(role))
        except DomainError as exc:
            raise _fail(exc) from exc
        click.echo(f"Created {user.role.value} {user.username!r} (id {user.id}).")


@users_group.command("token")
@click.argument("username")
@click.option("--name", required=True, help="What will use the token, e.g. 'dashboard sync'.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3650))
@with_appcontext
def users_token(username: str, name: str, days: int) -> None:
    """Create a personal API token for USERNAME and print it (it is shown only this once)."""
    with get_db().writing() as session:
        try:
            row, token = accounts.create_api_token(session, _user(session, username), name, days=days)
        except DomainError as exc:
            raise _fail(exc) from exc
    click.echo(f"Token {row.id} for {username} (send as 'Authorization: Bearer TOKEN'):")
    click.echo(token)




@click.command("export")
@click.option("--study", "study_name", required=True, help="The study's name, or #ID when two studies share it.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (refused if it exists).")
@with_appcontext
def export_command(study_name: str, fmt: str, out: Path) -> None:
    """Export a study's synthesis: a REFI-QDA project, highlights or insights (CSV/XLSX, formulas
    neutralized), its codebook (CSV or .qdc), or a brief of reviewed and published insights."""
    from .services import exports

    if out.exists():
        raise click.ClickException(f"{out} exists; choose a new file name.")
    with get_db().read_session() as session:  # an export only reads
        body = exports.study_export(session, _study(session, study_name), fmt).body
    out.write_bytes(body)
    click.echo(f"Wrote {out} ({out.stat().st_size:,} bytes).")


@click.group("studies")
def studies_group() -> None:
    """Manage studies."""


@studies_group.command("create")
@click.argument("name")
@click.option("--service", required=True, help="For example 'Retirement Services'.")
@click.option("--method", type=click.Choice([m.value for m in Method]), default=Method.INTERVIEWS.value, show_default=True)
@click.option("--purpose", default="")
@click.option("--omb-control-number", help="PRA clearance, e.g. 3206-0252.")
@click.option("--by", "by_username", required=True, help="Username the study is created as (researcher or admin).")
@with_appcontext
def studies_create(name, service, method, purpose, omb_control_number, by_username) -> None:
    """Create a study."""
    with get_db().writing() as session:
        actor = _user(session, by_username)
        try:
            study = studies.create_study(session, actor, studies.StudyInput(
                name=name, service=service, method=Method(method), purpose=purpose,
                omb_control_number=omb_control_number,
            ))
        except DomainError as exc:
            raise _fail(exc) from exc
        click.echo(f"Created study {study.name!r} (id {study.id}).")


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
    _require_schema(app)
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


def _meta_option(values: tuple[str, ...]) -> dict[str, str]:
    meta = {}
    for value in values:
        role, sep, column = value.partition("=")
        if not sep or not column.strip():
            raise click.BadParameter(f"{value!r}: write ROLE=COLUMN, for example created='Created at'.", param_hint="--meta")
        meta[role.strip()] = column.strip()
    return meta


@click.command("import")
@click.option("--study", "study_name", required=True, help="The study's name, or #ID when two studies share it.")
@click.option("--by", "by_username", required=True, help="Username the import is done as (researcher or admin).")
@click.option("--kind", type=click.Choice([k.value for k in SourceKind]),
              help="Source kind; default: interview for documents, ticket for exports.")
@click.option("--title", help="Title for a document (de-identified before it is stored).")
@click.option("--text-column", "text_columns", multiple=True, help="Export column holding text (repeatable).")
@click.option("--meta", "meta", multiple=True, help=f"ROLE=COLUMN; roles: {', '.join(ingest_mapping.META_ROLES)}.")
@click.option("--drop", multiple=True, help="Export column that identifies people: never stored (repeatable).")
@click.option("--name-column", "name_columns", multiple=True,
              help="Column of person names: dropped, and every mention in the text is redacted.")
@click.option("--id-column", help="Column that identifies a record, for de-duplication (only a keyed hash is kept).")
@click.option("--mapping", "mapping_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON mapping file: {\"text\": [...], \"meta\": {...}, \"drop\": [...], \"names\": [...], \"id\": ...}.")
@click.option("--encoding", help="Force a text encoding (default: UTF-8/UTF-16 by BOM, UTF-8, else Windows-1252).")
@click.option("--sheet", help="Worksheet of an .xlsx export (default: the first).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar for exports.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_command(study_name, by_username, kind, title, text_columns, meta, drop, name_columns, id_column,
                   mapping_path, encoding, sheet, progress, paths) -> None:
    """Import documents (txt md docx pdf vtt srt) and exports (csv tsv json jsonl xlsx) into a study.

    Everything is de-identified before it is stored. Running the same file again is a no-op,
    or resumes an import that was interrupted.
    """
    from tqdm import tqdm

    app = current_app._get_current_object()
    _require_schema(app)
    db = get_db()
    settings = ingest.IngestSettings.from_config(app.config)
    meta_map = _meta_option(meta)
    failures = 0
    with db.read_session() as session:
        study_id = _study(session, study_name).id
    spec = ingest_mapping.load_mapping_file(str(mapping_path)) if mapping_path else None
    for path in paths:
        upload = ingest.Upload(path.name, path.read_bytes())
        try:
            with db.writing() as session:
                actor = _user(session, by_username)
                study = session.get(Study, study_id)
                if not access.can(session, actor, access.Action.UPLOAD, study.id):
                    raise click.ClickException(f"{actor.username!r} may not add sources to {study.name!r}.")
                received = ingest.receive(
                    session, settings, study, actor, upload, SourceKind(kind) if kind else None, encoding=encoding,
                    document=ingest.DocumentDetails(title=title), export=ingest.ExportDetails(
                        sheet=sheet, text_columns=list(text_columns) or None, meta=meta_map, drop=list(drop),
                        name_columns=list(name_columns), id_column=id_column, mapping_file=spec))
                plan, outcome, actor_id = received.plan, received.document, actor.id
            if plan is None:
                source = outcome.source
                if outcome.created:
                    counts = ", ".join(f"{k} {v}" for k, v in sorted(source.redaction_summary["counts"].items()))
                    click.echo(f"{path}: stored as source {source.id} ({source.title}), {outcome.passages} passages; "
                               f"redacted: {counts or 'nothing'}.")
                else:
                    click.echo(f"{path}: already in this study as source {source.id}; nothing changed.")
                continue
            if plan.already_done:
                run = plan.run
                click.echo(f"{path}: already imported (import {run.id}): read {run.records_read} = stored "
                           f"{run.records_stored} + rejected {run.records_rejected}; nothing changed.")
                continue
            if plan.resumed:
                click.echo(f"{path}: resuming import {plan.run.id} at record {plan.run.records_read + 1}.")
            bar = tqdm(total=plan.run.records_total, initial=plan.run.records_read, unit="rec",
                       desc=path.name[:30], disable=not progress)
            last = [plan.run.records_read]

            def advance(run, bar=bar, last=last):
                bar.update(run.records_read - last[0])
                last[0] = run.records_read

            run = ingest.run_import(db, settings, plan, actor_id, progress=advance)
            bar.close()
            mapping = run.mapping
            click.echo(f"{path}: import {run.id}: read {run.records_read} = stored {run.records_stored} + "
                       f"rejected {run.records_rejected}.")
            click.echo(f"  text: {', '.join(mapping['text'])}; metadata: "
                       f"{', '.join(f'{k}={v}' for k, v in mapping['meta'].items()) or 'none'}; "
                       f"not stored: {', '.join(mapping['names'] + mapping['dropped'] + mapping['ignored']) or 'none'}.")
            if run.records_rejected:
                click.echo(f"  reasons: research-repo imports rejections {run.id}")
        except DomainError as exc:
            failures += 1
            click.echo(f"Error: {exc.message}", err=True)
    if failures:
        raise SystemExit(1)


@click.group("imports")
def imports_group() -> None:
    """Look at imports and their rejected records."""


@imports_group.command("list")
@click.option("--study", "study_name", required=True, help="The study's name, or #ID when two studies share it.")
@with_appcontext
def imports_list(study_name: str) -> None:
    """Imports of a study, with their reconciliation."""
    with get_db().read_session() as session:
        study = _study(session, study_name)
        for run in ingest.list_imports(session, study.id):
            click.echo(f"{run.id}\t{run.status.value}\t{run.format}\t{run.kind.value}\tread {run.records_read}/"
                       f"{run.records_total} = stored {run.records_stored} + rejected {run.records_rejected}")


@imports_group.command("rejections")
@click.argument("import_id", type=int)
@with_appcontext
def imports_rejections(import_id: int) -> None:
    """The rejected records of an import and why, as CSV."""
    with get_db().read_session() as session:
        run = session.get(ImportRun, import_id)
        if run is None:
            raise click.ClickException(f"No import {import_id}.")
        click.echo(ingest.rejections_csv(session, run), nl=False)


@click.command("reindex")
@click.option("--check", is_flag=True, help="Only compare the passage ids in the database and the index.")
@click.option("--procs", type=click.IntRange(1, 16), default=lambda: min(os.cpu_count() or 1, 4),
              help="Processes that analyse text in parallel (default: the CPU count, at most 4).")
@with_appcontext
def reindex_command(check: bool, procs: int) -> None:
    """Rebuild the search index from the database (into a new directory, then swapped in)."""
    app = current_app._get_current_object()
    _require_schema(app)
    if not check:
        import time

        started = time.perf_counter()
        count = indexer.rebuild(app, procs=procs)
        seconds = time.perf_counter() - started
        click.echo(f"Indexed {count} passages in {seconds:.1f} s ({count / max(seconds, 1e-9):,.0f}/s).")
    indexer.drain_all(app)
    missing, extra = indexer.consistency(app)
    click.echo(f"Index check: {len(missing)} passages missing from the index, {len(extra)} in the index but not the database.")
    if missing or extra:
        raise SystemExit(1)


@click.command("search")
@click.argument("query")
@click.option("--study", "study_name", help="Search one study (default: all): its name, or #ID when two studies share it.")
@click.option("--limit", default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@with_appcontext
def search_command(query: str, study_name: str | None, limit: int, as_json: bool) -> None:
    """Search the de-identified passages (as an operator: all studies, or one)."""
    import json
    from dataclasses import asdict

    from . import search as search_pkg

    app = current_app._get_current_object()
    with get_db().read_session() as session:
        if study_name:
            study_ids = [_study(session, study_name).id]
        else:
            study_ids = list(session.scalars(select(Study.id)))
    try:
        results = search_pkg.backend(app).search(search_pkg.SearchQuery(text=query, per_page=limit, facets=False),
                                                 study_ids)
    except (search_pkg.IndexUnavailable, search_pkg.QueryRejected) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(asdict(results), indent=2, default=str))
        return
    click.echo(f"{results.total} passages.")
    for hit in results.hits:
        snippet = re.sub(r"<[^>]+>", "", hit.snippet_html)
        click.echo(f"- [{hit.study_id}/{hit.source_id}#{hit.passage_id}] {hit.title}"
                   f"{' ' + hit.speaker if hit.speaker else ''}: {html.unescape(snippet)}")
    if results.suggestion:
        click.echo(f"Did you mean: {results.suggestion}")


@click.group("themes")
def themes_group() -> None:
    """Cluster a study's passages into themes and list them."""


@themes_group.command("run")
@click.option("--study", "study_name", required=True, help="The study's name, or #ID when two studies share it.")
@click.option("--by", "by_username", required=True, help="Username the run is started as (researcher or admin).")
@click.option("--k", type=click.IntRange(2, 400), help="Number of themes (default: chosen by a silhouette sweep, "
              "or the previous run's themes).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice([k.value for k in SourceKind]),
              help="Only passages of this source kind (repeatable).")
@click.option("--cold", is_flag=True, help="Start afresh instead of from the previous run's themes.")
@click.option("--seed", default=0, show_default=True)
@click.option("--vectors", type=click.Choice(["lsa", "minilm"]),
              help="Passage vectors (default: the THEME_VECTORS setting).")
@click.option("--query", help="Only the passages this search finds (same syntax as search).")
@with_appcontext
def themes_run(study_name, by_username, k, kinds, cold, seed, vectors, query) -> None:
    """Run the theme job for a study now, in this process."""
    from .services import themes

    app = current_app._get_current_object()
    _require_schema(app)
    db = get_db()
    run_id = None
    try:
        with db.read_session() as session:  # who and what, then the search, outside any write
            actor = _user(session, by_username)
            study = _study(session, study_name)
            if not access.can(session, actor, access.Action.CODE, study.id):
                raise click.ClickException(f"{by_username} may not run themes in {study_name}.")
            actor_id, study_id = actor.id, study.id
        matched = None
        if query:
            from . import search as search_pkg

            matched = themes.passages_matching(search_pkg.backend(app), study_id, query)
        with db.writing() as session:
            actor, study = session.get(User, actor_id), session.get(Study, study_id)
            run_id = themes.start_run(session, actor, study, themes.RunOptions(
                k=k, scope=themes.RunScope(kinds=tuple(kinds), passage_ids=matched), warm=not cold, random_state=seed,
                vectors=vectors or app.config["THEME_VECTORS"]), enqueue=False).id
        themes.execute_run(db, run_id)
    except Exception as exc:
        if run_id is not None:
            with db.writing() as session:
                themes.fail_run(session, run_id, str(exc) if isinstance(exc, DomainError) else type(exc).__name__)
        if isinstance(exc, DomainError):
            raise _fail(exc) from exc
        raise
    with db.read_session() as session:
        run = session.get(themes.ThemeRun, run_id)
        q = run.quality
        click.echo(f"Theme run {run.id}: {run.passage_count} passages, {q['k']} themes ({q['chosen']}), "
                   f"{q['groups']} first-level groups, {q['unthemed']} not yet themed"
                   + (f", {run.changed_count} earlier passages changed theme" if run.changed_count is not None else "")
                   + ".")


@themes_group.command("list")
@click.option("--study", "study_name", required=True, help="The study's name, or #ID when two studies share it.")
@click.option("--run", "run_id", type=int, help="A run id (default: the latest finished run).")
@with_appcontext
def themes_list(study_name: str, run_id: int | None) -> None:
    """The themes of a run: id, status, size, label and distinctive terms."""
    from .services import themes

    with get_db().read_session() as session:
        study = _study(session, study_name)
        run = session.get(themes.ThemeRun, run_id) if run_id else themes.latest_done(session, study.id)
        if run is None or run.study_id != study.id:
            raise click.ClickException(f"No finished theme run for {study_name}.")
        top, unthemed = themes.review(session, run)
        click.echo(f"Theme run {run.id} ({run.status.value}): {run.passage_count} passages, "
                   f"{unthemed} not yet themed.")
        for view in top:
            for item, indent in [(view, "")] + [(c, "  ") for c in view.children]:
                t = item.theme
                click.echo(f"{indent}{t.id}\t{t.status.value}\t{t.size}\t{t.label}\t{', '.join(t.top_terms[:6])}")


if __name__ == "__main__":
    main()
