"""Search pages and the JSON search API: results, snippets and facet counts come only from
studies the user may read. Requests only read the index; the writer lives in the worker."""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select

from .. import access, search
from ..extensions import db_session, on_refusal
from ..models import Study
from ..forms import EmptyForm
from ..search import FACETS, MAX_RESULT_DEPTH, IndexUnavailable, QueryRejected, SearchQuery
from ..search import indexer
from ..services import coding, saved_searches
from ..services.errors import TooManyAttempts
from ..web_auth import current_user, login_required

bp = Blueprint("search", __name__)

PER_PAGE = 10

# Searches running now, per user, in this process: one person cannot take every server thread.
_running: Counter = Counter()
_running_lock = threading.Lock()


@contextmanager
def _search_slot(user_id: int):
    limit = current_app.config["SEARCH_MAX_CONCURRENT_PER_USER"]
    key = (id(current_app._get_current_object()), user_id)
    with _running_lock:
        if _running[key] >= limit:
            raise TooManyAttempts(f"You already have {limit} searches running; wait for them to finish and try "
                                  "again.", retry_after=2)
        _running[key] += 1
    try:
        yield
    finally:
        with _running_lock:
            _running[key] -= 1
            if not _running[key]:
                del _running[key]


def _date(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_args() -> tuple[SearchQuery, list[str]]:
    problems = []
    filters = {name: [v for v in request.args.getlist(name) if v.strip()][:20] for name in FACETS}
    q = SearchQuery(
        text=request.args.get("q", ""),
        filters={k: v for k, v in filters.items() if v},
        date_from=_date("from"), date_to=_date("to"),
        sort="date" if request.args.get("sort") == "date" else "relevance",
        page=max(request.args.get("page", 1, type=int) or 1, 1),
        per_page=min(max(request.args.get("per_page", PER_PAGE, type=int) or PER_PAGE, 1), 100),
    )
    for name in ("from", "to"):
        if request.args.get(name, "").strip() and _date(name) is None:
            problems.append(f"The {'start' if name == 'from' else 'end'} date must be written YYYY-MM-DD.")
    if q.page * q.per_page > MAX_RESULT_DEPTH:
        problems.append(f"Results are listed up to the first {MAX_RESULT_DEPTH:,}; narrow the search or sort by date.")
    return q, problems


def _run(q: SearchQuery):
    s = db_session()
    user = current_user()
    study_ids = list(s.scalars(access.readable_study_ids(user)))
    names = {sid: name for sid, name in s.execute(select(Study.id, Study.name).where(Study.id.in_(study_ids)))}
    try:
        with _search_slot(user.id):
            results = search.backend(current_app).search(q, study_ids)
    except IndexUnavailable as exc:
        return None, str(exc), names
    for facet in results.facets:
        if facet.name == "study":
            for value in facet.values:
                value.label = names.get(int(value.value), value.value)
    return results, None, names


@bp.route("/search")
@login_required
def page():
    q, problems = parse_args()
    results, unavailable, names = None, None, {}
    if not problems and (q.text or q.filters or request.args):
        try:
            results, unavailable, names = _run(q)
        except QueryRejected as exc:
            problems.append(exc.message)
    status = 400 if problems else 503 if unavailable else 200
    behind = indexer.behind(current_app) if results else 0
    return _render_page(q, results=results, unavailable=unavailable, problems=problems, study_names=names,
                        args=request.args, tag_all=_tag_all_target(q, names) if results else None,
                        behind=behind), status


def _tag_all_target(q: SearchQuery, names: dict) -> tuple | None:
    """"Tag all results" works in one study (tags belong to a study's codebook): the study the
    search is filtered to, or the only study the user can read. None if the user cannot code there."""
    chosen = q.filters.get("study", [])
    ids = [int(x) for x in chosen if x.isdigit()] if chosen else list(names)
    if len(ids) != 1 or not (q.text or q.filters):
        return None
    s = db_session()
    if not access.can(s, current_user(), access.Action.CODE, ids[0]):
        return None
    study = s.get(Study, ids[0])
    return study, coding.tags(s, study.id)


def _render_page(q: SearchQuery, **context) -> str:
    context = {"results": None, "unavailable": None, "problems": [], "study_names": {}, "args": {},
               "save_error": None, "tag_all": None, **context}
    return render_template("search/results.html", q=q, facets_meta=FACETS, Markup=Markup, form=EmptyForm(),
                           saved=saved_searches.list_for(db_session(), current_user()), **context)


def _saved_params() -> dict:
    keep = ("q", "from", "to", "sort", *FACETS)
    params = {}
    for key in keep:
        values = [v for v in request.form.getlist(key) if v.strip()][:20]
        if values:
            params[key] = values if key in FACETS else values[0][:500]
    return params


@bp.route("/searches", methods=["POST"])
@login_required
def save_search():
    form = EmptyForm()
    params = _saved_params()
    if form.validate_on_submit():
        # The page again, with the message; the refused text is not echoed back.
        on_refusal(lambda exc: (_render_page(SearchQuery(), save_error=exc.message), exc.status))
        saved_searches.save(db_session(), current_user(), request.form.get("name", ""), params)
        flash("Search saved.", "success")
    return redirect(url_for("search.page", **params))


@bp.route("/searches/<int:saved_id>/delete", methods=["POST"])
@login_required
def delete_search(saved_id: int):
    form = EmptyForm()
    if form.validate_on_submit():
        s = db_session()
        saved_searches.delete(s, current_user(), saved_id)
        flash("Saved search deleted.", "success")
    return redirect(url_for("search.page"))


@bp.route("/api/v1/searches")
@login_required
def api_saved():
    rows = saved_searches.list_for(db_session(), current_user())
    return jsonify(searches=[{"id": r.id, "name": r.name, "params": r.params,
                              "url": url_for("search.page", **r.params)} for r in rows])


@bp.route("/api/v1/search")
@login_required
def api():
    q, problems = parse_args()
    if problems:
        return jsonify(error={"status": 400, "title": "Check the query", "message": " ".join(problems)}), 400
    results, unavailable, _names = _run(q)
    if unavailable:
        return jsonify(error={"status": 503, "title": "Search unavailable", "message": unavailable}), 503
    body = asdict(results)
    for hit in body["hits"]:
        hit["url"] = url_for("sources.source_detail", study_id=hit["study_id"], source_id=hit["source_id"],
                             _anchor=f"passage-{hit['passage_id']}")
    return jsonify(body)


@bp.route("/studies/<int:study_id>/passages/<int:passage_id>/similar")
@login_required
def similar(study_id: int, passage_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    coding.get_passage(s, study.id, passage_id)  # a passage of another study is not found here
    study_ids = list(s.scalars(access.readable_study_ids(current_user())))
    try:
        with _search_slot(current_user().id):
            hits = search.backend(current_app).more_like_this(passage_id, study_ids, limit=8)
        unavailable = None
    except IndexUnavailable as exc:
        hits, unavailable = [], str(exc)
    return render_template("search/similar.html", study=study, passage_id=passage_id, hits=hits,
                           unavailable=unavailable, Markup=Markup), (503 if unavailable else 200)
