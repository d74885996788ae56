"""The index and themes: `reindex`, `search`, `themes run|list`."""
from __future__ import annotations

import html
import os
import re

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import access
from ..extensions import get_db
from ..search import indexer
from ..models import SourceKind, Study, User
from ..services.errors import DomainError
from .common import fail, require_schema, study_named, user_named


@click.command("reindex")
@click.option("--check", is_flag=True, help="Only compare the passage ids in the database and the index.")
@click.option("--procs", type=click.IntRange(1, 16), default=lambda: min(os.cpu_count() or 1, 4),
              help="Processes that analyse text in parallel (default: the CPU count, at most 4).")
@with_appcontext
def reindex_command(check: bool, procs: int) -> None:
    """Rebuild the search index from the database (into a new directory, then swapped in)."""
    app = current_app._get_current_object()
    require_schema(app)
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

    from .. import search as search_pkg

    app = current_app._get_current_object()
    with get_db().read_session() as session:
        if study_name:
            study_ids = [study_named(session, study_name).id]
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
    from ..services import themes

    app = current_app._get_current_object()
    require_schema(app)
    db = get_db()
    run_id = None
    try:
        with db.read_session() as session:  # who and what, then the search, outside any write
            actor = user_named(session, by_username)
            study = study_named(session, study_name)
            if not access.can(session, actor, access.Action.CODE, study.id):
                raise click.ClickException(f"{by_username} may not run themes in {study_name}.")
            actor_id, study_id = actor.id, study.id
        matched = None
        if query:
            from .. import search as search_pkg

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
            raise fail(exc) from exc
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
    from ..services import themes

    with get_db().read_session() as session:
        study = study_named(session, study_name)
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
