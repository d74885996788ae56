"""The codebook page, coding a passage (highlight, tag, memo), "tag all results" from a search or
a theme with its undo, and the study's exports (codebook, highlights, insights, REFI-QDA)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import access, search
from ..extensions import db_session, on_refusal
from ..forms import EmptyForm, TagForm, refusals_on, refusals_to
from ..models import A11Driver, InsightStatus, Polarity, Tag, theme_passage
from ..services import coding, exports, insights
from ..services.errors import Conflict, NotFound, ValidationError
from ..web_auth import current_user, local_url, login_required

bp = Blueprint("coding", __name__)

MAX_CODEBOOK_UPLOAD = 2 * 1024 * 1024


def _tag_form(s, study_id: int, tag: Tag | None = None) -> TagForm:
    form = TagForm(obj=tag) if tag is not None and request.method == "GET" else TagForm()
    choices = [("", "None (top level)")]
    for t in coding.tags(s, study_id):
        if t.is_system or (tag is not None and (t.id == tag.id or t.path.startswith(tag.path + "/"))):
            continue
        choices.append((str(t.id), t.path))
    form.parent.choices = choices
    if tag is not None and request.method == "GET":
        form.parent.data = str(tag.parent_id or "")
    return form


def _codebook(s, study, form, status=200, report=None):
    tags = coding.tags(s, study.id)
    return render_template("coding/codebook.html", study=study, tags=tags, usage=coding.usage(s, study.id), form=form,
                           can_code=access.can(s, current_user(), access.Action.CODE, study.id), report=report,
                           empty=EmptyForm(), actions=coding.recent_actions(s, study.id)), status


@bp.route("/studies/<int:study_id>/codebook", methods=["GET", "POST"])
@login_required
def codebook(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    form = _tag_form(s, study.id)
    if request.method == "POST":
        access.get_study(s, current_user(), study_id, access.Action.CODE)
        if form.validate_on_submit():
            refusals_on(form, lambda status: _codebook(s, study, form, status))
            tag = coding.create_tag(s, current_user(), study, form.name.data, parent_id=_int(form.parent.data),
                                    description=form.description.data or "", color=form.color.data)
            flash(f"Tag added: {tag.path}.", "success")
            return redirect(url_for(".codebook", study_id=study.id))
        return _codebook(s, study, form, 400)
    return _codebook(s, study, form)


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@bp.route("/studies/<int:study_id>/codebook/tags/<int:tag_id>", methods=["GET", "POST"])
@login_required
def edit_tag(study_id: int, tag_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    tag = coding.get_tag(s, study.id, tag_id)
    form = _tag_form(s, study.id, tag)
    status = 200

    def page(status):
        others = [t for t in coding.tags(s, study.id) if not t.is_system and t.id != tag.id]
        return render_template("coding/tag.html", study=study, tag=tag, form=form, others=others), status

    if request.method == "POST" and form.validate_on_submit():
        refusals_on(form, page)
        if request.form.get("action") == "merge":
            others = [coding.get_tag(s, study.id, _int(x)) for x in request.form.getlist("other") if _int(x)]
            moved = coding.merge_tags(s, current_user(), tag, others)
            message = f"Merged into {tag.path}; {moved} highlight coding{'s' if moved != 1 else ''} moved."
        else:
            coding.update_tag(s, current_user(), tag, name=form.name.data, parent_id=_int(form.parent.data),
                              description=form.description.data or "", color=form.color.data)
            message = f"Saved {tag.path}."
        flash(message, "success")
        return redirect(url_for(".codebook", study_id=study.id))
    elif request.method == "POST":
        status = 400
    return page(status)


@bp.route("/studies/<int:study_id>/codebook/tags/<int:tag_id>/delete", methods=["GET", "POST"])
@login_required
def delete_tag(study_id: int, tag_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    tag = coding.get_tag(s, study.id, tag_id)
    form = EmptyForm()
    if form.validate_on_submit():
        path = tag.path
        refusals_to(url_for(".codebook", study_id=study.id))
        n_tags, n_codings = coding.delete_tag(s, current_user(), tag)
        flash(f"Deleted {path} ({n_tags} tag{'s' if n_tags != 1 else ''}, {n_codings} coding"
              f"{'s' if n_codings != 1 else ''}).", "success")
        return redirect(url_for(".codebook", study_id=study.id))
    n_tags, n_codings = coding.delete_impact(s, tag)
    return render_template("coding/delete_tag.html", study=study, tag=tag, form=form, n_tags=n_tags,
                           n_codings=n_codings)


@bp.route("/studies/<int:study_id>/codebook/import", methods=["POST"])
@login_required
def import_codebook(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    form = EmptyForm()
    if not form.validate_on_submit():
        return _codebook(s, study, _tag_form(s, study.id), 400)
    upload = request.files.get("file")
    tag_form = _tag_form(s, study.id)
    refusals_on(tag_form, lambda status: _codebook(s, study, tag_form, status))
    if upload is None or not upload.filename:
        raise ValidationError("Choose a codebook file (.csv or .qdc) to import.")
    data = upload.read(MAX_CODEBOOK_UPLOAD + 1)
    if len(data) > MAX_CODEBOOK_UPLOAD:
        raise ValidationError("A codebook file can be at most 2 MB.")
    name = upload.filename.lower()
    if name.endswith(".qdc") or name.endswith(".xml"):
        report = coding.import_codebook_qdc(s, current_user(), study, data)
    elif name.endswith(".csv"):
        report = coding.import_codebook_csv(s, current_user(), study, data)
    else:
        raise ValidationError("Import a codebook as .csv (path, description, color) or as REFI-QDA .qdc.")
    return _codebook(s, study, _tag_form(s, study.id), report=report)


@bp.route("/studies/<int:study_id>/codebook.<fmt>")
@login_required
def export_codebook(study_id: int, fmt: str):
    return export(study_id, "codebook", fmt)


def _download(body, mime: str, filename: str) -> Response:
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ---------------------------------------------------------------- coding a passage

def _codings_from_form(form) -> list[coding.Coding]:
    out = [coding.Coding(int(t)) for t in form.getlist("tags") if t.isdigit()]
    for key, value in form.items():
        if key.startswith("driver-") and key[7:].isdigit() and value in ("positive", "negative"):
            out.append(coding.Coding(int(key[7:]), Polarity(value)))
    return out


@bp.route("/studies/<int:study_id>/passages/<int:passage_id>", methods=["GET", "POST"])
@login_required
def passage(study_id: int, passage_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    p, source = coding.get_passage(s, study.id, passage_id)
    form = EmptyForm()

    def page(errors, status):
        tags = coding.tags(s, study.id)
        highlights = coding.highlights_for_passages(s, [p.id]).get(p.id, [])
        return render_template(
            "coding/passage.html", study=study, source=source, passage=p, tags=tags, highlights=highlights,
            form=form, errors=errors, values=request.form, Drivers=A11Driver,
            can_code=access.can(s, current_user(), access.Action.CODE, study.id),
            insights=[i for i in insights.list_for_study(s, study.id) if i.status is not InsightStatus.PUBLISHED],
            text_of=coding.highlight_text), status

    if request.method == "POST":
        access.get_study(s, current_user(), study_id, access.Action.CODE)
        if not form.validate_on_submit():
            return page(["The form expired; try again."], 400)
        on_refusal(lambda exc: page([exc.message], exc.status))
        start, end = _int(request.form.get("start")), _int(request.form.get("end"))
        span = coding.locate(p, request.form.get("quote", ""), start, end)
        h, replaced = coding.create_highlight(s, current_user(), p, span, _codings_from_form(request.form),
                                              request.form.get("memo", ""))
        note = (f" {replaced} thing{'s' if replaced != 1 else ''} in the memo looked like identifiers and "
                "were replaced.") if replaced else ""
        flash(f"Highlight {h.id} saved.{note}", "success")
        return redirect(url_for(".passage", study_id=study.id, passage_id=p.id))
    return page([], 200)


@bp.route("/studies/<int:study_id>/highlights/<int:highlight_id>/delete", methods=["POST"])
@login_required
def delete_highlight(study_id: int, highlight_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    h = coding.get_highlight(s, study.id, highlight_id)
    passage_id = h.passage_id
    if EmptyForm().validate_on_submit():
        coding.delete_highlight(s, current_user(), study.id, h)
        flash("Highlight deleted.", "success")
    return redirect(url_for(".passage", study_id=study.id, passage_id=passage_id))


# ---------------------------------------------------------------- tag all results

@bp.route("/studies/<int:study_id>/tag-all", methods=["POST"])
@login_required
def tag_all(study_id: int):
    """Tag every passage of a search (within this study) or of a theme."""
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    back = local_url(request.form.get("back"), url_for(".codebook", study_id=study.id))
    if not EmptyForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(back)
    refusals_to(back)
    tag_id = _int(request.form.get("apply_tag"))
    polarity = request.form.get("polarity") or None
    if tag_id is None:
        raise ValidationError("Choose the tag to apply.")
    theme_id = _int(request.form.get("theme"))
    if theme_id is not None:
        theme = coding.get_theme(s, study.id, theme_id)
        ids = list(s.scalars(select(theme_passage.c.passage_id).where(theme_passage.c.theme_id == theme.id)))
        origin = "theme"
    else:
        text = request.form.get("q", "").strip()
        filters = {name: [v for v in request.form.getlist(name) if v.strip()] for name in search.FACETS}
        query = search.SearchQuery(text=text, filters={k: v for k, v in filters.items() if v})
        if not text and not query.filters:
            raise ValidationError("Search for something first; tagging every passage is not a search.")
        try:
            ids = list(search.backend(current_app).matching_passage_ids(query, [study.id]))
        except search.IndexUnavailable as exc:
            raise Conflict(f"{exc} Try again in a minute.") from None
        origin = "search"
    action = coding.bulk_tag(s, current_user(), study, ids,
                             coding.Coding(tag_id, Polarity(polarity) if polarity in ("positive", "negative")
                                           else None), origin)
    tag = s.get(Tag, action.tag_id)
    n = len(action.created_highlights) + len(action.tagged_highlights)
    flash(f"Tagged {n} passage{'s' if n != 1 else ''} with {tag.path} (coding step {action.id}; undo it on the "
          "codebook page).", "success")
    return redirect(back)


@bp.route("/studies/<int:study_id>/coding/<int:action_id>/undo", methods=["POST"])
@login_required
def undo(study_id: int, action_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.CODE)
    if EmptyForm().validate_on_submit():
        refusals_to(url_for(".codebook", study_id=study.id))
        coding.undo_bulk(s, current_user(), study, action_id)
        flash(f"Coding step {action_id} undone.", "success")
    return redirect(url_for(".codebook", study_id=study.id))


# ---------------------------------------------------------------- exports

@bp.route("/studies/<int:study_id>/export/<what>.<fmt>")
@login_required
def export(study_id: int, what: str, fmt: str):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    name = "qdpx" if (what, fmt) == ("project", "qdpx") else f"{what}.{fmt}"
    if name not in exports.FORMATS or name == "brief.docx":  # briefs have their own page
        raise NotFound("Export highlights or insights as .csv or .xlsx, or the project as .qdpx.")
    made = exports.study_export(s, study, name)
    return _download(made.body, made.mime, made.filename)
