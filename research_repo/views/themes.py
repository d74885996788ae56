"""Theme runs and the synthesis review page: run themes over a study's passages, then rename,
merge, split, accept, reject, move passages and undo."""
from __future__ import annotations


from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import access, search
from ..extensions import db_session, on_refusal
from ..forms import EmptyForm
from ..models import Job, SourceKind, ThemeRun, ThemeRunStatus, ThemeStatus
from ..services import coding, inputs, themes
from ..services.errors import ValidationError
from ..web_auth import current_user, login_required

bp = Blueprint("themes", __name__)

PALETTE = ["#005ea2", "#d83933", "#00a91c", "#8168b3", "#e66f0e", "#00bde3", "#936f38", "#7a6500", "#3d4551",
           "#c05600", "#1a4480", "#4d8055"]


def _run(s, study_id: int, run_id: int | None) -> ThemeRun | None:
    if run_id is None:
        return themes.latest_done(s, study_id)
    run = s.get(ThemeRun, run_id)
    if run is None or run.study_id != study_id:
        abort(404)
    return run


@bp.route("/studies/<int:study_id>/themes")
@login_required
def review(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.READ)
    return _render(s, study, _run(s, study.id, request.args.get("run", type=int)))


def _render(s, study, run, status: int = 200, errors: list[str] | None = None):
    runs = themes.runs(s, study.id)
    jobs = {}
    for job in s.scalars(select(Job).where(Job.kind == themes.JOB_KIND, Job.study_id == study.id)):
        jobs[job.payload.get("run_id")] = job
    top, unthemed, points, actions, all_themes = [], 0, [], [], []
    if run is not None and run.status is ThemeRunStatus.DONE:
        top, unthemed = themes.review(s, run)
        points = themes.map_points(s, run)
        actions = themes.actions(s, run)
        all_themes = sorted((v.theme for g in top for v in ([g] if not g.children else g.children)),
                            key=lambda t: t.label.lower())
    groups = {}
    for _x, _y, _tid, group in points:
        groups.setdefault(group, PALETTE[len(groups) % len(PALETTE)])
    can_code = access.can(s, current_user(), access.Action.CODE, study.id)
    return render_template(
        "themes/review.html", study=study, run=run, runs=runs, jobs=jobs, top=top, unthemed=unthemed,
        points=points, colors=groups, actions=actions, all_themes=all_themes, can_code=can_code,
        form=EmptyForm(), kinds=list(SourceKind), errors=errors or [], Status=ThemeStatus,
        codebook=coding.tags(s, study.id) if can_code else [],
    ), status


@bp.route("/studies/<int:study_id>/themes/run", methods=["POST"])
@login_required
def start(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    on_refusal(lambda exc: _render(s, study, themes.latest_done(s, study.id), exc.status, [exc.message]))
    k_text = request.form.get("k", "").strip()
    if k_text and not k_text.isdigit():
        raise ValidationError("The number of themes must be a whole number, or empty to choose it automatically.")
    kinds = tuple(k for k in request.form.getlist("kinds") if k in {x.value for x in SourceKind})
    query_text = request.form.get("query", "").strip()
    matched = themes.passages_matching(search.backend(current_app), study.id, query_text) if query_text else None
    scope = themes.RunScope(kinds=kinds, passage_ids=matched,
                            date_from=inputs.iso_date(request.form.get("date_from"), "start date", "date_from"),
                            date_to=inputs.iso_date(request.form.get("date_to"), "end date", "date_to"))
    run = themes.start_run(s, current_user(), study, themes.RunOptions(
        k=int(k_text) if k_text else None, scope=scope, warm=request.form.get("cold") != "1",
        vectors=current_app.config["THEME_VECTORS"]))
    flash(f"Theme run {run.id} is queued for {run.passage_count} passages. This page shows it when it is done.",
          "success")
    return redirect(url_for(".review", study_id=study.id))


@bp.route("/studies/<int:study_id>/themes/<int:run_id>/act", methods=["POST"])
@login_required
def act(study_id: int, run_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    run = _run(s, study.id, run_id)
    if run.status is not ThemeRunStatus.DONE:
        abort(409)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    action = request.form.get("action", "")
    theme_id = request.form.get("theme", type=int)
    user = current_user()
    on_refusal(lambda exc: _render(s, study, run, exc.status, [exc.message]))
    if action == "rename":
        theme = themes.rename(s, user, run, theme_id, request.form.get("label", ""))
        message = f"Renamed to “{theme.label}”."
    elif action in ("accept", "reject", "reopen"):
        status = {"accept": ThemeStatus.ACCEPTED, "reject": ThemeStatus.REJECTED, "reopen": ThemeStatus.PROPOSED}
        theme = themes.set_status(s, user, run, theme_id, status[action])
        message = f"“{theme.label}” is {theme.status.value}."
    elif action == "merge":
        others = [int(x) for x in request.form.getlist("other") if x.isdigit()]
        theme = themes.merge(s, user, run, theme_id or 0, others)
        message = f"Merged into “{theme.label}” ({theme.size} passages)."
    elif action == "split":
        parts = themes.split(s, user, run, theme_id, request.form.get("parts", 2, type=int))
        message = "Split into " + ", ".join(f"“{t.label}” ({t.size})" for t in parts) + "."
    elif action == "move":
        passage_id = request.form.get("passage", type=int)
        if passage_id is None:
            raise ValidationError("Give the number of the passage to move.")
        theme = themes.move_passage(s, user, run, passage_id, theme_id or 0)
        message = f"Moved passage {passage_id} to “{theme.label}”."
    elif action == "undo":
        done = themes.undo(s, user, run)
        message = f"Undone: {done.summary}."
    else:
        raise ValidationError("Unknown action.")
    flash(message, "success")
    anchor = f"#theme-{theme_id}" if theme_id and action not in ("undo", "merge") else ""
    return redirect(url_for(".review", study_id=study.id, run=run.id) + anchor)
