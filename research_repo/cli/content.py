"""Evidence in and out: `import` (documents and exports, de-identified before anything is
stored), `imports`, `export` and `deidentify` (which stores nothing)."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import access
from ..extensions import get_db
from ..ingest import mapping as ingest_mapping
from ..models import ImportRun, SourceKind, Study
from ..services import ingest
from ..services.errors import DomainError
from ..services.exports import FORMATS as EXPORT_FORMATS
from .common import require_schema, study_named, user_named


@click.command("deidentify")
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


@click.command("export")
@click.option("--study", "study_name", required=True, help="The study's name, or #ID when two studies share it.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (refused if it exists).")
@with_appcontext
def export_command(study_name: str, fmt: str, out: Path) -> None:
    """Export a study's synthesis: a REFI-QDA project, highlights or insights (CSV/XLSX, formulas
    neutralized), its codebook (CSV or .qdc), or a brief of reviewed and published insights."""
    from ..services import exports

    if out.exists():
        raise click.ClickException(f"{out} exists; choose a new file name.")
    with get_db().read_session() as session:  # an export only reads
        body = exports.study_export(session, study_named(session, study_name), fmt).body
    out.write_bytes(body)
    click.echo(f"Wrote {out} ({out.stat().st_size:,} bytes).")


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
    require_schema(app)
    db = get_db()
    settings = ingest.IngestSettings.from_config(app.config)
    meta_map = _meta_option(meta)
    failures = 0
    with db.writing() as session:
        study_id = study_named(session, study_name).id
        # Imports whose process died (an earlier `import` killed) are marked resumable, and
        # their job rows stop saying "running".
        ingest.mark_interrupted(session)
    spec = ingest_mapping.load_mapping_file(str(mapping_path)) if mapping_path else None
    for path in paths:
        upload = ingest.Upload(path.name, path.read_bytes())
        try:
            export = ingest.ExportDetails(
                sheet=sheet, text_columns=list(text_columns) or None, meta=meta_map, drop=list(drop),
                name_columns=list(name_columns), id_column=id_column, mapping_file=spec)
            source_kind = SourceKind(kind) if kind else None
            # Parsed (and a document de-identified) before the write transaction: the app's
            # users are not kept waiting for the write lock meanwhile.
            with db.read_session() as session:
                terms = ingest.study_terms(session, study_id, settings)
            prepared = ingest.prepare(settings, terms, upload, source_kind, encoding=encoding, export=export)
            with db.writing() as session:
                actor = user_named(session, by_username)
                study = session.get(Study, study_id)
                if not access.can(session, actor, access.Action.UPLOAD, study.id):
                    raise click.ClickException(f"{actor.username!r} may not add sources to {study.name!r}.")
                received = ingest.receive(
                    session, settings, study, actor, upload, source_kind, encoding=encoding,
                    document=ingest.DocumentDetails(title=title), export=export, prepared=prepared)
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
        study = study_named(session, study_name)
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
