"""Upload documents and exports to a study; follow an import; read a source and redact what
the engine missed. Uploads stay in memory (see ``InMemoryRequest``)."""
from __future__ import annotations

import dataclasses
import io

from flask import Blueprint, Request, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from sqlalchemy import func, select
from wtforms import SelectChoice

from nlp.deid.spans import Kind

from .. import access, jobs
from ..extensions import after_commit, db_session, end_reads, get_db
from ..forms import EmptyForm, RedactForm, UploadForm, refusals_on, refusals_to
from ..models import Highlight, ImportRejection, ImportRun, Passage, Source, SourceKind
from ..services import ingest, redaction, speakers, study_terms
from ..services.errors import DomainError, NotFound, ValidationError
from ..web_auth import current_user, login_required

bp = Blueprint("sources", __name__)


class InMemoryRequest(Request):
    """Uploaded files are kept in memory. Werkzeug spools uploads over 500 KB to a temporary
    file by default, and an upload holds identified text, which must never touch the disk.
    MAX_CONTENT_LENGTH bounds the memory a request can take."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


@bp.app_template_filter("redaction_marks")
def redaction_marks(text: str) -> Markup:
    """Escape a passage and wrap each pseudonym ("[PERSON_1]") in a visible mark."""
    out, pos = [], 0
    for m in redaction.PSEUDONYM.finditer(text):
        out.append(escape(text[pos:m.start()]))
        out.append(Markup('<mark class="rr-redaction">{}<span class="usa-sr-only"> (redacted)</span></mark>').format(m.group()))
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def _settings() -> ingest.IngestSettings:
    return ingest.IngestSettings.from_config(current_app.config)


@bp.route("/studies/<int:study_id>/upload", methods=["GET", "POST"])
@login_required
def upload(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.UPLOAD)
    form = UploadForm()
    results: list[dict] = []
    status = 200
    if form.validate_on_submit() and request.form.get("action") == "preview":
        return _preview(s, study, form)
    if form.validate_on_submit():
        files = [f for f in request.files.getlist("files") if f.filename]
        if not files:
            form.form_errors.append("Choose at least one file to upload.")
        kind = SourceKind(form.kind.data) if form.kind.data else None
        text_columns = _text_columns(form)
        settings = _settings()
        app = current_app._get_current_object()
        uploads = []
        for f in files:
            uploads.append(ingest.Upload(ingest.display_name(f.filename), f.read()))
            f.close()
        encoding = form.encoding.data or None
        export = ingest.ExportDetails(text_columns=text_columns)
        terms = ingest.study_terms(s, study.id, settings)
        # Parsing and de-identifying are the slow part: done with no transaction open, so a
        # large file does not hold the write lock other uploads and sign-ins wait for.
        end_reads()
        prepared: list = []
        for upload in uploads:
            try:
                prepared.append(ingest.prepare(settings, terms, upload, kind, encoding=encoding, export=export))
            except DomainError as exc:
                prepared.append(exc)
        # Again, in the transaction that stores: membership may have changed meanwhile.
        study = access.get_study(s, current_user(), study_id, access.Action.UPLOAD)
        for upload, ready in zip(uploads, prepared, strict=True):
            name = upload.name
            # Each file in a savepoint: a refused file takes back only its own writes, and the
            # files accepted before and after it commit with the request.
            try:
                if isinstance(ready, DomainError):
                    raise ready
                with s.begin_nested():
                    received = ingest.receive(
                        s, settings, study, current_user(), upload, kind,
                        encoding=encoding, export=export, prepared=ready,
                        document=ingest.DocumentDetails(
                            title=form.title.data if len(files) == 1 else None, collected_on=form.collected_on.data,
                            channel=form.channel.data, segment=form.segment.data,
                            journey_stage=form.journey_stage.data))
                plan, outcome = received.plan, received.document
                if plan is not None:
                    if plan.already_done:
                        results.append({"name": name, "ok": True, "url": url_for(".import_detail", study_id=study.id,
                                        import_id=plan.run.id), "message": "Already imported; nothing changed."})
                        continue
                    run_id, actor_id = plan.run.id, current_user().id
                    # The records are read once the import's row is committed and visible.
                    after_commit(lambda plan=plan, actor_id=actor_id: jobs.run_in_background(
                        app, lambda: ingest.run_import(get_db(app), settings, plan, actor_id)))
                    message = (f"Resuming at record {plan.run.records_read + 1} of {plan.run.records_total}."
                               if plan.resumed else f"Importing {plan.run.records_total} records.")
                    results.append({"name": name, "ok": True, "message": message,
                                    "url": url_for(".import_detail", study_id=study.id, import_id=run_id)})
                else:
                    results.append({"name": name, "ok": True, "url": url_for(".source_detail", study_id=study.id,
                                    source_id=outcome.source.id), "message": (
                        f"Stored as {outcome.source.title}: {outcome.passages} passages." if outcome.created
                        else f"Already in this study as {outcome.source.title}; nothing changed.")})
            except DomainError as exc:  # this file's outcome; the others are kept
                results.append({"name": name, "ok": False, "message": exc.message, "status": exc.status})
        del uploads, prepared
        failed = [r for r in results if not r["ok"]]
        if results and not failed and len(results) == 1:
            # The message only: a flash sits in the session cookie, and a file name is typed text.
            flash(results[0]["message"], "success")
            return redirect(results[0]["url"])
        if failed:
            status = max(r["status"] for r in failed) if len(failed) == len(results) else 400
        elif form.form_errors:
            status = 400
    elif form.is_submitted():
        status = 400
    return render_template("sources/upload.html", study=study, form=form, results=results), status


def _preview(s, study, form):
    """What de-identification would replace in one document, nothing stored (ingest.preview)."""
    files = [f for f in request.files.getlist("files") if f.filename]
    if len(files) != 1:
        form.form_errors.append("Preview one document at a time.")
        return render_template("sources/upload.html", study=study, form=form, results=[]), 400
    refusals_on(form, lambda status: (render_template("sources/upload.html", study=study, form=form, results=[]),
                                      status))
    upload = ingest.Upload(ingest.display_name(files[0].filename), files[0].read())
    kind = ingest.kind_for(upload.name, SourceKind(form.kind.data) if form.kind.data else None)
    settings = _settings()
    terms = ingest.study_terms(s, study.id, settings)
    end_reads()  # a preview writes nothing: no transaction is held while the engine runs
    if kind in ingest.RECORD_KINDS:
        shown = ingest.preview.propose_export(terms, settings, study, upload, kind, form.encoding.data or None,
                                              _text_columns(form))
        return render_template("sources/preview_export.html", study=study, form=form, preview=shown,
                               empty=EmptyForm())
    shown = ingest.preview.propose(terms, settings, study, upload, kind, form.encoding.data or None)
    return render_template("sources/preview.html", study=study, form=form, preview=shown, empty=EmptyForm(),
                           kinds=[k.value for k in Kind])


def _text_columns(form: UploadForm) -> list[str] | None:
    return [c.strip() for c in (form.text_columns.data or "").split(",") if c.strip()] or None


def _previewed(study_id: int):
    """The study, the form and the file a preview page carried back (checked against its
    token), for the two "store what I previewed" routes; None when the form expired."""
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.UPLOAD)
    form = UploadForm()
    if not form.validate_on_submit():
        return s, study, None, None
    refusals_to(url_for(".upload", study_id=study.id))
    try:
        kind = SourceKind(request.form.get("source_kind", ""))
    except ValueError:
        raise ValidationError("Upload and preview the file again.") from None
    data = ingest.preview.returned_file(_settings(), study, kind, request.form.get("data", ""),
                                        request.form.get("token", ""))
    return s, study, form, (kind, ingest.Upload(ingest.display_name(request.form.get("name")), data))


def _preview_expired(study):
    flash("The form expired; upload and preview the file again.", "error")
    return redirect(url_for(".upload", study_id=study.id))


@bp.route("/studies/<int:study_id>/upload/reviewed", methods=["POST"])
@login_required
def upload_reviewed(study_id: int):
    """Store a previewed document with the reviewer's decisions applied."""
    s, study, form, returned = _previewed(study_id)
    if form is None:
        return _preview_expired(study)
    kind, upload = returned
    settings = _settings()
    never = request.form.getlist("never")
    add_kind = request.form.get("also_kind", "PERSON")
    if add_kind not in {k.value for k in Kind}:
        add_kind = "PERSON"
    also = tuple(" ".join(line.split()) for line in request.form.get("also", "").splitlines() if line.strip())
    review = ingest.Review(drop=ingest.preview.rejected(request.form.getlist("offered"), request.form.getlist("redact")),
                           add=also, add_kind=add_kind)
    terms = ingest.study_terms(s, study.id, settings)
    terms = dataclasses.replace(terms, keep=(*terms.keep, *(" ".join(v.split()) for v in never)), review=review)
    end_reads()  # de-identified with no transaction open, as on the upload page
    prepared = ingest.prepare(settings, terms, upload, kind, encoding=form.encoding.data or None)
    study = access.get_study(s, current_user(), study_id, access.Action.UPLOAD)
    if never:
        study_terms.add_keep_terms(s, current_user(), study, never)
    outcome = ingest.ingest_document(
        s, settings, study, current_user(), upload, kind, title=form.title.data,
        collected_on=form.collected_on.data, channel=form.channel.data, segment_name=form.segment.data,
        journey_stage=form.journey_stage.data, encoding=form.encoding.data or None, review=review,
        read=prepared.document)
    if outcome.created:
        kept = len(review.drop)
        flash(f"Stored as {outcome.source.title}: {outcome.passages} passages; {kept} proposed "
              f"replacement{'s' if kept != 1 else ''} left out, {len(also)} value{'s' if len(also) != 1 else ''} "
              "added.", "success")
    else:
        flash(f"Already in this study as {outcome.source.title}; nothing changed.", "success")
    return redirect(url_for(".source_detail", study_id=study.id, source_id=outcome.source.id))


@bp.route("/studies/<int:study_id>/upload/reviewed-export", methods=["POST"])
@login_required
def upload_reviewed_export(study_id: int):
    """Import a previewed export with the mapping the preview showed."""
    s, study, form, returned = _previewed(study_id)
    if form is None:
        return _preview_expired(study)
    kind, upload = returned
    settings = _settings()
    end_reads()  # parsed with no transaction open, as on the upload page
    prepared = ingest.prepare(settings, ingest.StudyTerms(), upload, kind, encoding=form.encoding.data or None)
    study = access.get_study(s, current_user(), study_id, access.Action.UPLOAD)
    plan = ingest.start_import(s, settings, study, current_user(), upload, kind,
                               encoding=form.encoding.data or None, text_columns=_text_columns(form),
                               table=prepared.table)
    if not plan.already_done:
        app, actor_id = current_app._get_current_object(), current_user().id
        after_commit(lambda: jobs.run_in_background(app, lambda: ingest.run_import(get_db(app), settings, plan,
                                                                                   actor_id)))
        flash(f"Importing {plan.run.records_total} records.", "success")
    else:
        flash("Already imported; nothing changed.", "success")
    return redirect(url_for(".import_detail", study_id=study.id, import_id=plan.run.id))


@bp.route("/studies/<int:study_id>/imports/<int:import_id>")
@login_required
def import_detail(study_id: int, import_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    run = _import(s, study.id, import_id)
    rejections = s.scalars(select(ImportRejection).where(ImportRejection.import_id == run.id)
                           .order_by(ImportRejection.record_number).limit(100)).all()
    return render_template("sources/import.html", study=study, run=run, rejections=rejections)


@bp.route("/studies/<int:study_id>/imports/<int:import_id>/status")
@login_required
def import_status(study_id: int, import_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    run = _import(s, study.id, import_id)
    return jsonify(id=run.id, status=run.status.value, total=run.records_total, read=run.records_read,
                   stored=run.records_stored, rejected=run.records_rejected)


@bp.route("/studies/<int:study_id>/imports/<int:import_id>/rejections.csv")
@login_required
def import_rejections(study_id: int, import_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    run = _import(s, study.id, import_id)
    return Response(ingest.rejections_csv(s, run), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="import-{run.id}-rejections.csv"'})


def _import(s, study_id: int, import_id: int) -> ImportRun:
    run = s.get(ImportRun, import_id)
    if run is None or run.study_id != study_id:
        raise NotFound("No such import in this study.")
    return run


@bp.route("/studies/<int:study_id>/sources")
@login_required
def source_list(study_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    page = max(request.args.get("page", 1, type=int), 1)
    per_page = 50
    total = s.scalar(select(func.count()).select_from(Source).where(Source.study_id == study.id))
    rows = s.scalars(select(Source).where(Source.study_id == study.id).order_by(Source.id)
                     .offset((page - 1) * per_page).limit(per_page)).all()
    return render_template("sources/list.html", study=study, sources=rows, page=page,
                           pages=max((total + per_page - 1) // per_page, 1), total=total)


@bp.route("/studies/<int:study_id>/sources/<int:source_id>", methods=["GET"])
@login_required
def source_detail(study_id: int, source_id: int):
    s = db_session()
    study = access.get_study(s, current_user(), study_id)
    source = _source(s, study.id, source_id)
    form = _redact_form()
    return _render_source(study, source, form, 200)


def _redact_form() -> RedactForm:
    form = RedactForm()
    form.kind.choices = [SelectChoice(k.value, k.value.replace("_", " ").capitalize()) for k in Kind]
    return form


def _render_source(study, source, form, status):
    s = db_session()
    passages = s.scalars(select(Passage).where(Passage.source_id == source.id).order_by(Passage.position)).all()
    can_redact = access.can(s, current_user(), access.Action.UPLOAD, study.id)
    highlight_counts = dict(s.execute(select(Highlight.passage_id, func.count()).join(Passage).where(
        Passage.source_id == source.id).group_by(Highlight.passage_id)).all())
    return render_template("sources/detail.html", study=study, source=source, passages=passages, form=form,
                           highlight_counts=highlight_counts, speakers=speakers.roles(source), empty=EmptyForm(),
                           can_redact=can_redact, counts=sorted(source.redaction_summary.get("counts", {}).items())), status


def _source(s, study_id: int, source_id: int) -> Source:
    source = s.get(Source, source_id)
    if source is None or source.study_id != study_id:
        raise NotFound("No such source in this study.")
    return source


def _editable(study_id: int, source_id: int):
    """The request's session, the study (for a role that may change its sources) and the source."""
    s = db_session()
    study = access.get_study(s, current_user(), study_id, access.Action.UPLOAD)
    return s, study, _source(s, study.id, source_id)


@bp.route("/studies/<int:study_id>/sources/<int:source_id>/redact", methods=["POST"])
@login_required
def source_redact(study_id: int, source_id: int):
    s, study, source = _editable(study_id, source_id)
    form = _redact_form()

    def page(_status):
        # Never echo the submitted value back into the page.
        form.value.data = ""
        form.value.raw_data = []
        return _render_source(study, source, form, 400)

    if form.validate_on_submit():
        refusals_on(form, page)
        if form.everywhere.data:
            sources, count = redaction.redact_study(s, current_user(), source, form.value.data, Kind(form.kind.data))
            where = f"in {sources} source{'s' if sources != 1 else ''} of this study"
        else:
            count, where = redaction.redact(s, current_user(), source, form.value.data, Kind(form.kind.data)), \
                "in this source"
        after_commit(get_db().checkpoint)  # the old value leaves the WAL too
        flash(f"Redacted {count} occurrence{'s' if count != 1 else ''} {where}.", "success")
        return redirect(url_for(".source_detail", study_id=study.id, source_id=source.id))
    return page(400)


@bp.route("/studies/<int:study_id>/sources/<int:source_id>/speakers", methods=["POST"])
@login_required
def source_speakers(study_id: int, source_id: int):
    """Correct a speaker's role: the moderator's turns are not customer voice."""
    s, study, source = _editable(study_id, source_id)
    back = url_for(".source_detail", study_id=study.id, source_id=source.id) + "#speakers"
    if not EmptyForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(back)
    refusals_to(back)
    old, new = request.form.get("speaker", ""), request.form.get("role", "")
    changed = speakers.set_role(s, current_user(), source, old, new)
    flash(f"{changed} turn{'s' if changed != 1 else ''} now have the role you chose." if changed
          else "Nothing changed.", "success")
    return redirect(back)


@bp.route("/studies/<int:study_id>/sources/<int:source_id>/delete", methods=["GET", "POST"])
@login_required
def source_delete(study_id: int, source_id: int):
    s, study, source = _editable(study_id, source_id)
    form = EmptyForm()
    if form.validate_on_submit():
        title = source.title
        count = ingest.delete_source(s, current_user(), source)
        after_commit(get_db().checkpoint)  # the deleted text leaves the WAL too, as after a hand redaction
        flash(f"Deleted {title} and its {count} passage{'s' if count != 1 else ''}.", "success")
        return redirect(url_for("studies.detail", study_id=study.id))
    return render_template("sources/delete.html", study=study, source=source, form=form)
