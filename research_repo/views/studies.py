"""Study list, create and edit (with members), and the study page with its sources."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from .. import access
from ..extensions import db_session, on_refusal
from ..forms import EmptyForm, MemberForm, StudyForm, refusals_on
from ..models import Method, Role
from ..services import ingest, inputs, studies, study_terms
from ..services.errors import NotFound
from ..web_auth import current_user, login_required

bp = Blueprint("studies", __name__)


def _input(form: StudyForm) -> studies.StudyInput:
    return studies.StudyInput(
        name=form.name.data, method=Method(form.method.data), service=form.service.data,
        purpose=form.purpose.data, omb_control_number=form.omb_control_number.data,
        omb_expires_on=form.omb_expires_on.data, retention_until=form.retention_until.data,
    )


@bp.route("/")
@login_required
def index():
    return redirect(url_for("studies.list_studies"))


@bp.route("/studies")
@login_required
def list_studies():
    rows = studies.list_studies(db_session(), current_user())
    return render_template("studies/list.html", rows=rows, can_create=current_user().role.can_create_study())


@bp.route("/studies/new", methods=["GET", "POST"])
@login_required
def create():
    access.require_study_creator(current_user())
    form = StudyForm()

    def page(status):
        return render_template("studies/form.html", form=form, study=None), status

    if form.validate_on_submit():
        refusals_on(form, lambda _status: page(400))
        study = studies.create_study(db_session(), current_user(), _input(form))
        flash("Study created." + inputs.replaced_note(study.replaced_identifiers), "success")
        return redirect(url_for("studies.detail", study_id=study.id))
    return page(400 if form.errors or form.form_errors else 200)


@bp.route("/studies/<int:study_id>")
@login_required
def detail(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    return render_template(
        "studies/detail.html",
        study=study,
        sources=studies.sources(s, study.id),
        source_count=studies.source_count(s, study.id),
        imports=ingest.list_imports(s, study.id)[:20],
        members=studies.members(s, study.id),
        can_edit=access.can(s, current_user(), access.Action.EDIT, study.id),
        can_upload=access.can(s, current_user(), access.Action.UPLOAD, study.id),
    )


@bp.route("/studies/<int:study_id>/deidentification")
@login_required
def deidentification(study_id: int):
    """What was replaced in this study, and the engine's measured figures (NIST SP 800-188)."""
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    return _deid_page(s, study)


def _deid_page(s, study, status: int = 200, errors: list[str] | None = None):
    return render_template(
        "studies/deidentification.html", study=study, report=studies.deid_report(s, study.id), form=EmptyForm(),
        can_edit=access.can(s, current_user(), access.Action.EDIT, study.id), errors=errors or [],
        roster_size=study_terms.roster_size(s, study.id), keep_terms=study_terms.keep_terms(s, study.id)), status


@bp.route("/studies/<int:study_id>/deidentification/<what>", methods=["POST"])
@login_required
def deid_terms(study_id: int, what: str):
    """Edit the study's roster (names in, keyed hashes stored) and never-redact terms."""
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.EDIT)
    if not EmptyForm().validate_on_submit():
        return _deid_page(s, study, 400, ["The form expired; reload the page and try again."])
    on_refusal(lambda exc: _deid_page(s, study, exc.status, [exc.message]))
    secret = current_app.config["SECRET_KEY"]
    if what == "roster":
        added = study_terms.add_to_roster(s, current_user(), study, request.form.get("names", ""), secret)
        message = f"Roster updated: {added} new keyed hash{'es' if added != 1 else ''} (the names are not stored)."
    elif what == "roster-clear":
        study_terms.clear_roster(s, current_user(), study)
        message = "Roster cleared."
    elif what == "keep":
        kept = study_terms.set_keep_terms(s, current_user(), study, request.form.get("terms", ""))
        message = f"{kept} term{'s' if kept != 1 else ''} will never be redacted in this study."
    else:
        raise NotFound("No such de-identification setting.")
    flash(message + " They apply to what is uploaded from now on.", "success")
    return redirect(url_for(".deidentification", study_id=study.id))


@bp.route("/studies/<int:study_id>/edit", methods=["GET", "POST"])
@login_required
def edit(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.EDIT)
    form = StudyForm(obj=study)
    if not form.is_submitted():
        form.method.data = study.method.value
    if form.validate_on_submit():
        refusals_on(form, lambda _status: _edit_page(
            access.get_study(s, current_user(), study_id, access.Action.EDIT), form, MemberForm(), status=400))
        saved = studies.update_study(s, current_user(), study.id, _input(form))
        flash("Study saved." + inputs.replaced_note(saved.replaced_identifiers), "success")
        return redirect(url_for("studies.detail", study_id=study.id))
    return _edit_page(study, form, MemberForm(), status=400 if form.errors or form.form_errors else 200)


def _edit_page(study, form, member_form, status=200):
    return render_template(
        "studies/form.html", form=form, study=study, member_form=member_form,
        members=studies.members(db_session(), study.id), remove_form=EmptyForm(),
    ), status


@bp.route("/studies/<int:study_id>/members", methods=["POST"])
@login_required
def add_member(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.EDIT)
    member_form = MemberForm()

    def page(_status):
        study = access.get_study(s, current_user(), study_id, access.Action.EDIT)
        form = StudyForm(formdata=None, obj=study)
        form.method.data = study.method.value
        return _edit_page(study, form, member_form, status=400)

    if member_form.validate_on_submit():
        refusals_on(member_form, page)
        studies.set_member(s, current_user(), study.id, member_form.username.data, Role(member_form.role.data))
        flash("Member saved.", "success")
        return redirect(url_for("studies.edit", study_id=study.id))
    return page(400)


@bp.route("/studies/<int:study_id>/members/<int:user_id>/remove", methods=["POST"])
@login_required
def remove_member(study_id: int, user_id: int):
    s = db_session()
    studies.remove_member(s, current_user(), study_id, user_id)
    flash("Member removed.", "success")
    return redirect(url_for("studies.edit", study_id=study_id))
