"""JSON API v1 for studies, sources, passages, tags, highlights, insights and learning-agenda
questions. A request is signed in by its session cookie (and then sends the CSRF token on
writes) or by a personal token, ``Authorization: Bearer TOKEN``; either way the same access
checks as the pages apply. Token management lives here too (/account/tokens)."""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import func, select

from .. import access
from ..extensions import csrf, db_session
from ..forms import EmptyForm, TokenForm, refusals_on
from ..models import A11Driver, Highlight, Insight, Passage, Polarity, Source, Study, Tag
from ..services import accounts, coding, insights
from ..services.errors import NotFound
from . import schema
from ..web_auth import current_user, login_required

bp = Blueprint("api", __name__)
csrf.exempt(bp)

MAX_PAGE = 200


@bp.before_request
def _csrf_for_cookie_writes() -> None:
    # Bearer-token requests carry no cookie, so they cannot be forged cross-site; a request
    # signed in by cookie must send the CSRF token on every write, like a form.
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("api_token"):
        csrf.protect()


def _page() -> tuple[int, int]:
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    per_page = min(max(request.args.get("per_page", 50, type=int) or 50, 1), MAX_PAGE)
    return page, per_page


def _study_json(st: Study) -> dict:
    return {"id": st.id, "name": st.name, "service": st.service, "method": st.method.value,
            "omb_control_number": st.omb_control_number, "purpose": st.purpose,
            "url": url_for("studies.detail", study_id=st.id)}


def _source_json(src: Source) -> dict:
    return {"id": src.id, "study_id": src.study_id, "title": src.title, "kind": src.kind.value,
            "channel": src.channel, "segment": src.segment, "journey_stage": src.journey_stage,
            "collected_on": src.collected_on.isoformat() if src.collected_on else None,
            "redactions": src.redaction_summary.get("counts", {})}


def _passage_json(p: Passage) -> dict:
    return {"id": p.id, "source_id": p.source_id, "position": p.position, "speaker": p.speaker_role,
            "text": p.text, "start": p.start_offset, "end": p.end_offset}


def _tag_json(t: Tag) -> dict:
    return {"id": t.id, "name": t.name, "path": t.path, "parent_id": t.parent_id, "description": t.description,
            "color": t.color, "system": t.is_system, "driver": t.driver}


def _highlight_json(h: Highlight) -> dict:
    return {"id": h.id, "passage_id": h.passage_id, "start": h.start_offset, "end": h.end_offset,
            "text": coding.highlight_text(h), "memo": h.memo,
            "tags": [{"id": link.tag_id, "path": link.tag.path,
                      "polarity": link.polarity.value if link.polarity else None} for link in h.tags]}


def _insight_json(s, i: Insight) -> dict:
    return {"id": i.id, "study_id": i.study_id, "statement": i.statement, "status": i.status.value,
            "service": i.service, "journey_stage": i.journey_stage, "segment": i.segment,
            "drivers": [{"driver": d.driver.value, "polarity": d.polarity.value} for d in i.drivers],
            "questions": [q.id for q in i.questions],
            "evidence": {"highlights": [h.id for h in i.highlights], "passages": [p.id for p in i.passages],
                         "themes": [t.id for t in i.themes]},
            "reviewed_at": i.reviewed_at.isoformat() if i.reviewed_at else None,
            "published_at": i.published_at.isoformat() if i.published_at else None}


@bp.route("/api/v1/openapi.json")
@login_required
def openapi():
    """The API described as OpenAPI 3.1; its schemas are the ones bodies are checked against."""
    return jsonify(schema.document())


@bp.route("/api/v1/studies")
@login_required
def studies():
    s = db_session()
    rows = s.scalars(select(Study).where(Study.id.in_(access.readable_study_ids(current_user()))).order_by(Study.id))
    return jsonify(studies=[_study_json(st) for st in rows])


@bp.route("/api/v1/studies/<int:study_id>")
@login_required
def study(study_id: int):
    return jsonify(_study_json(access.get_study(db_session(), current_user(), study_id)))


@bp.route("/api/v1/studies/<int:study_id>/sources")
@login_required
def sources(study_id: int):
    s = db_session()
    st = access.get_study(s, current_user(), study_id)
    page, per_page = _page()
    total = s.scalar(select(func.count()).select_from(Source).where(Source.study_id == st.id))
    rows = s.scalars(select(Source).where(Source.study_id == st.id).order_by(Source.id)
                     .offset((page - 1) * per_page).limit(per_page))
    return jsonify(total=total, page=page, per_page=per_page, sources=[_source_json(x) for x in rows])


@bp.route("/api/v1/sources/<int:source_id>/passages")
@login_required
def passages(source_id: int):
    s = db_session()
    src = s.get(Source, source_id)
    if src is None:
        raise NotFound("No such source, or you are not a member of its study.")
    access.get_study(s, current_user(), src.study_id)
    rows = s.scalars(select(Passage).where(Passage.source_id == src.id).order_by(Passage.position))
    return jsonify(source=_source_json(src), passages=[_passage_json(p) for p in rows])


@bp.route("/api/v1/studies/<int:study_id>/tags", methods=["GET", "POST"])
@login_required
def tags(study_id: int):
    s = db_session()
    if request.method == "POST":
        st = access.get_study(s, current_user(), study_id, access.Action.CODE)
        data = schema.body("TagCreate")
        tag = coding.create_tag(s, current_user(), st, data["name"], parent_id=data.get("parent_id"),
                                description=data.get("description") or "", color=data.get("color"))
        return jsonify(_tag_json(tag)), 201
    st = access.get_study(s, current_user(), study_id)
    return jsonify(tags=[_tag_json(t) for t in coding.tags(s, st.id)])


@bp.route("/api/v1/studies/<int:study_id>/highlights", methods=["GET", "POST"])
@login_required
def highlights(study_id: int):
    s = db_session()
    if request.method == "POST":
        st = access.get_study(s, current_user(), study_id, access.Action.CODE)
        data = schema.body("HighlightCreate")
        p, _source = coding.get_passage(s, st.id, data["passage_id"])
        codings = [coding.Coding(t["id"], Polarity(t["polarity"]) if t.get("polarity") else None)
                   for t in data.get("tags", [])]
        span = coding.locate(p, data["quote"], data.get("start"), data.get("end"))
        h, _ = coding.create_highlight(s, current_user(), p, span, codings, data.get("memo") or "")
        return jsonify(_highlight_json(h)), 201
    st = access.get_study(s, current_user(), study_id)
    page, per_page = _page()
    query = select(Highlight).join(Passage).join(Source).where(Source.study_id == st.id)
    total = s.scalar(select(func.count()).select_from(query.subquery()))
    rows = s.scalars(query.order_by(Highlight.id).offset((page - 1) * per_page).limit(per_page))
    return jsonify(total=total, page=page, per_page=per_page, highlights=[_highlight_json(h) for h in rows])


def _insight_input(data: dict) -> insights.InsightInput:
    """An insight from a body already checked against ``InsightCreate``."""
    drivers = {A11Driver(item["driver"]): Polarity(item["polarity"]) for item in data.get("drivers", [])}
    return insights.InsightInput(statement=data["statement"], service=data.get("service") or "",
                                 journey_stage=data.get("journey_stage") or "",
                                 segment=data.get("segment") or "", drivers=drivers,
                                 question_ids=data.get("questions", []))


@bp.route("/api/v1/studies/<int:study_id>/insights", methods=["GET", "POST"])
@login_required
def insight_list(study_id: int):
    s = db_session()
    if request.method == "POST":
        st = access.get_study(s, current_user(), study_id, access.Action.CODE)
        data = schema.body("InsightCreate")
        evidence = data.get("evidence", {})
        insight, _ = insights.create(s, current_user(), st, _insight_input(data))
        insights.add_evidence(s, current_user(), insight, highlight_ids=evidence.get("highlights", []),
                              passage_ids=evidence.get("passages", []), theme_ids=evidence.get("themes", []))
        return jsonify(_insight_json(s, insight)), 201
    st = access.get_study(s, current_user(), study_id)
    return jsonify(insights=[_insight_json(s, i) for i in insights.list_for_study(s, st.id)])


@bp.route("/api/v1/studies/<int:study_id>/insights/<int:insight_id>")
@login_required
def insight(study_id: int, insight_id: int):
    s = db_session()
    st = access.get_study(s, current_user(), study_id)
    i = insights.get(s, st.id, insight_id)
    body = _insight_json(s, i)
    body["quotes"] = [asdict(q) for q in insights.quotes(s, i)]
    return jsonify(body)


@bp.route("/api/v1/questions")
@login_required
def questions():
    s = db_session()
    out = []
    for summary in insights.learning_agenda(s, current_user()):
        q = summary.question
        out.append({"id": q.id, "agency": q.agency, "number": q.number, "text": q.text,
                    "strategic_goal": q.strategic_goal, "insights": [i.id for i in summary.insights],
                    "quotes": summary.quotes, "by_study": dict(summary.by_study),
                    "by_channel": dict(summary.by_channel), "thin": summary.thin})
    return jsonify(questions=out)


# ---------------------------------------------------------------- token management (pages)

@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    s = db_session()
    form = TokenForm()
    new_token, status = None, 200

    def page(status):
        return render_template("account/tokens.html", form=form, new_token=new_token, empty=EmptyForm(),
                               rows=accounts.list_api_tokens(s, current_user())), status

    if request.method == "POST":
        if form.validate_on_submit():
            refusals_on(form, lambda status: page(status))
            _row, new_token = accounts.create_api_token(s, current_user(), form.name.data)
            form = TokenForm(formdata=None)
        else:
            status = 400
    return page(status)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int):
    s = db_session()
    accounts.revoke_api_token(s, current_user(), token_id)
    flash("Token revoked; it no longer works.", "success")
    return redirect(url_for(".tokens"))
