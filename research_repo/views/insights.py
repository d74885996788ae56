"""Insights (write, link evidence, review, publish), the learning-agenda pages with the
evidence chain, and insight briefs as HTML and .docx."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import access
from ..extensions import db_session
from ..forms import EmptyForm, InsightForm, QuestionForm, refusals_on, refusals_to
from ..models import A11Driver, Insight, InsightStatus, LearningAgendaQuestion, Polarity, Study, User
from ..services import exports, insights
from ..services.errors import NotFound, ValidationError
from ..web_auth import current_user, local_url, login_required

bp = Blueprint("insights", __name__)


def _input(form: InsightForm) -> insights.InsightInput:
    drivers = {}
    for d in A11Driver:
        value = request.form.get(f"driver-{d.value}", "")
        if value in ("positive", "negative"):
            drivers[d] = Polarity(value)
    qids = [int(x) for x in request.form.getlist("questions") if x.isdigit()]
    return insights.InsightInput(statement=form.statement.data or "", service=form.service.data or "",
                                 journey_stage=form.journey_stage.data or "", segment=form.segment.data or "",
                                 drivers=drivers, question_ids=qids)


def _evidence_args() -> dict:
    def ids(name):
        return [int(x) for x in request.values.getlist(name) if x.isdigit()]
    return {"highlight_ids": ids("highlight"), "passage_ids": ids("passage"), "theme_ids": ids("theme")}


def _list(s, study, form, status=200, evidence=None):
    return render_template(
        "insights/list.html", study=study, rows=insights.list_for_study(s, study.id), form=form,
        questions=insights.questions(s), Drivers=A11Driver, evidence=evidence or _evidence_args(),
        evidence_count=insights.evidence_count, values=request.form,
        can_code=access.can(s, current_user(), access.Action.CODE, study.id)), status


@bp.route("/studies/<int:study_id>/insights", methods=["GET", "POST"])
@login_required
def index(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    form = InsightForm()
    if request.method == "GET" and request.args.get("statement"):
        form.statement.data = request.args["statement"][:2000]
    if request.method == "POST":
        access.get_study(s, current_user(), study_id, access.Action.CODE)
        if not form.validate_on_submit():
            return _list(s, study, form, 400)
        refusals_on(form, lambda status: _list(s, study, form, status))
        insight, replaced = insights.create(s, current_user(), study, _input(form))
        insights.add_evidence(s, current_user(), insight, **_evidence_args())
        note = (f" {replaced} thing{'s' if replaced != 1 else ''} in it looked like identifiers and were replaced."
                if replaced else "")
        flash(f"Insight {insight.id} saved as a draft.{note}", "success")
        return redirect(url_for(".detail", study_id=study.id, insight_id=insight.id))
    return _list(s, study, form)


def _detail(s, study, insight, form, status=200):
    return render_template(
        "insights/detail.html", study=study, insight=insight, form=form, quotes=insights.quotes(s, insight),
        questions=insights.questions(s), Drivers=A11Driver, Status=InsightStatus, empty=EmptyForm(),
        can_code=access.can(s, current_user(), access.Action.CODE, study.id),
        can_publish=access.can(s, current_user(), access.Action.EDIT, study.id),
        names=_names(s, insight)), status


def _names(s, insight: Insight) -> dict:
    ids = {insight.created_by_id, insight.reviewed_by_id, insight.published_by_id} - {None}
    return dict(s.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}


@bp.route("/studies/<int:study_id>/insights/<int:insight_id>", methods=["GET", "POST"])
@login_required
def detail(study_id: int, insight_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    insight = insights.get(s, study.id, insight_id)
    form = InsightForm(obj=insight) if request.method == "GET" else InsightForm()
    if request.method == "POST":
        access.get_study(s, current_user(), study_id, access.Action.CODE)
        if not form.validate_on_submit():
            return _detail(s, study, insight, form, 400)
        refusals_on(form, lambda status: _detail(s, study, insights.get(s, study.id, insight_id), form, status))
        replaced = insights.update(s, current_user(), insight, _input(form))
        flash("Insight saved." + (f" {replaced} identifier-like thing{'s' if replaced != 1 else ''} replaced."
                                  if replaced else ""), "success")
        return redirect(url_for(".detail", study_id=study.id, insight_id=insight.id))
    return _detail(s, study, insight, form)


@bp.route("/studies/<int:study_id>/insights/<int:insight_id>/<action>", methods=["POST"])
@login_required
def act(study_id: int, insight_id: int, action: str):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    insight = insights.get(s, study.id, insight_id)
    if not EmptyForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for(".detail", study_id=study.id, insight_id=insight.id))
    target = url_for(".detail", study_id=study.id, insight_id=insight.id)
    refusals_to(target)
    if action == "status":
        try:
            status = InsightStatus(request.form.get("status", ""))
        except ValueError:
            raise ValidationError("Choose a valid status.") from None
        insights.set_status(s, current_user(), insight, status)
        message = f"Insight {insight.id} is {status.value}."
    elif action == "evidence":
        added = insights.add_evidence(s, current_user(), insight, **_evidence_args())
        message = f"Added {added} piece{'s' if added != 1 else ''} of evidence to insight {insight.id}."
        target = request.form.get("back") or target
    elif action == "remove":
        insights.remove_evidence(s, current_user(), insight, request.form.get("kind", ""),
                                 request.form.get("id", 0, type=int))
        message = "Evidence removed."
    elif action == "delete":
        insights.delete(s, current_user(), insight)
        message, target = f"Insight {insight_id} deleted.", url_for(".index", study_id=study.id)
    else:
        raise NotFound("Unknown action.")
    flash(message, "success")
    return redirect(local_url(target, url_for(".detail", study_id=study.id, insight_id=insight_id)))


@bp.route("/studies/<int:study_id>/insights/add-evidence", methods=["POST"])
@login_required
def add_evidence(study_id: int):
    """"Add as evidence" from a passage page, which names the insight in the form."""
    insight_id = request.form.get("insight", type=int)
    if insight_id is None:
        raise NotFound("Choose the insight to add the evidence to.")
    return act(study_id, insight_id, "evidence")


# ---------------------------------------------------------------- learning agenda

@bp.route("/learning-agenda", methods=["GET", "POST"])
@login_required
def agenda():
    s = db_session()
    form = QuestionForm()
    status = 200

    def page(status):
        return _agenda_page(s, form, status)

    if request.method == "POST":
        if form.validate_on_submit():
            refusals_on(form, lambda status: page(status))
            q = insights.create_question(s, current_user(), form.agency.data, form.number.data, form.text.data,
                                         form.strategic_goal.data or "")
            flash(f"Question {q.agency} {q.number} added.", "success")
            return redirect(url_for(".agenda"))
        status = 400
    return page(status)


def _agenda_page(s, form, status):
    summaries = insights.learning_agenda(s, current_user())
    balance = insights.driver_balance(s, current_user())
    return render_template("insights/agenda.html", summaries=summaries, balance=balance, form=form,
                           Drivers=A11Driver, can_add=current_user().role.can_create_study()), status


def _question(s, question_id: int) -> LearningAgendaQuestion:
    q = s.get(LearningAgendaQuestion, question_id)
    if q is None:
        raise NotFound("No such learning-agenda question.")
    return q


@bp.route("/learning-agenda/<int:question_id>")
@login_required
def question(question_id: int):
    s = db_session()
    q = _question(s, question_id)
    [summary] = insights.learning_agenda(s, current_user(), only=q)
    items = exports.brief_items(s, summary.insights)
    return render_template("insights/question.html", q=q, summary=summary, items=items)


@bp.route("/learning-agenda/<int:question_id>/brief")
@bp.route("/learning-agenda/<int:question_id>/brief.<fmt>")
@login_required
def question_brief(question_id: int, fmt: str = "html"):
    s = db_session()
    q = _question(s, question_id)
    [summary] = insights.learning_agenda(s, current_user(), only=q)
    rows = [i for i in summary.insights if i.status is not InsightStatus.DRAFT or request.args.get("drafts")]
    return _brief(s, f"{q.agency} {q.number}: insight brief", q.text, rows, f"brief-{q.agency}-{q.number}", fmt,
                  question=q)


@bp.route("/studies/<int:study_id>/brief")
@bp.route("/studies/<int:study_id>/brief.<fmt>")
@login_required
def study_brief(study_id: int, fmt: str = "html"):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    rows = [i for i in insights.list_for_study(s, study.id)
            if i.status is not InsightStatus.DRAFT or request.args.get("drafts")]
    subtitle = study.purpose or study.service
    return _brief(s, f"{study.name}: insight brief", subtitle, rows, f"brief-study-{study.id}", fmt, study=study)


def _brief(s, title: str, subtitle: str, rows, filename: str, fmt: str, question=None, study: Study | None = None):
    items = exports.brief_items(s, rows)
    if fmt == "docx":
        return Response(exports.brief_docx(title, subtitle, items),
                        mimetype="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        headers={"Content-Disposition": f'attachment; filename="{filename}.docx"'})
    if fmt != "html":
        raise NotFound("A brief is HTML or .docx.")
    return render_template("insights/brief.html", title=title, subtitle=subtitle, items=items, question=question,
                           study=study, drafts=bool(request.args.get("drafts")))
