"""Creating and editing studies and their members through the pages."""
from __future__ import annotations

from sqlalchemy import select

from research_repo.models import AuditEvent, Role, Study, StudyMembership

from .helpers import csrf_token, stored_bytes


def _post(client, path, data):
    token = csrf_token(client.get(path).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


STUDY = {
    "name": "USAJOBS applicant interviews", "service": "USAJOBS", "method": "interviews",
    "purpose": "Why applicants abandon applications", "omb_control_number": "3206-0252",
    "omb_expires_on": "2027-09-30", "retention_until": "2030-01-01",
}


def test_researcher_creates_a_study_and_runs_it(client, signed_in, db):
    user = signed_in("rae", Role.RESEARCHER)
    response = _post(client, "/studies/new", STUDY)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "USAJOBS applicant interviews" in page and "3206-0252, expires 2027-09-30" in page
    assert "No sources yet." in page
    with db.read_session() as s:
        study = s.scalar(select(Study).where(Study.name == STUDY["name"]))
        membership = s.get(StudyMembership, (study.id, user.id))
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "study.create"))
    assert membership.role is Role.RESEARCHER
    assert (event.actor_id, event.study_id, event.object_id) == (user.id, study.id, study.id)


def test_invalid_study_form_explains_each_problem(client, signed_in, db):
    signed_in("rae")
    response = _post(client, "/studies/new", {**STUDY, "omb_control_number": "3206252"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The OMB control number should look like 3206-0252" in html
    assert 'aria-describedby="omb_control_number-hint omb_control_number-error"' in html
    assert 'value="USAJOBS applicant interviews"' in html  # what was typed is kept
    response = _post(client, "/studies/new", {**STUDY, "name": "", "omb_expires_on": "not a date"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This field is required." in html and "Not a valid date value." in html
    with db.read_session() as s:
        assert s.query(Study).count() == 0


def test_expiry_without_control_number_is_refused(client, signed_in):
    signed_in("rae")
    response = _post(client, "/studies/new", {**STUDY, "omb_control_number": ""})
    assert response.status_code == 400
    assert "An OMB expiry date needs the OMB control number it belongs to." in response.get_data(as_text=True)


def test_duplicate_name_is_a_conflict_named_in_the_form(client, signed_in):
    signed_in("rae")
    assert _post(client, "/studies/new", STUDY).status_code == 302
    response = _post(client, "/studies/new", {**STUDY, "name": STUDY["name"].upper()})
    assert response.status_code == 400
    assert "already exists; choose another name" in response.get_data(as_text=True)


def test_edit_study_records_changed_fields(client, signed_in, make_study, db):
    user = signed_in("rae")
    study = make_study("Old name", user)
    response = _post(client, f"/studies/{study.id}/edit", {**STUDY, "name": "New name"})
    assert response.status_code == 302
    assert "New name" in client.get(f"/studies/{study.id}").get_data(as_text=True)
    with db.read_session() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "study.update"))
    assert "name" in event.details["fields"] and "service" in event.details["fields"]
    assert "New name" not in str(event.details)  # the audit names fields, never values


def test_members_are_added_changed_and_removed(client, signed_in, make_user, make_study, db):
    user = signed_in("rae")
    make_user("val", Role.VIEWER)
    study = make_study("Member study", user)
    assert _post(client, f"/studies/{study.id}/edit", {}).status_code in (200, 400)  # page renders
    assert _post(client, f"/studies/{study.id}/members", {"username": "val", "role": "viewer"}).status_code == 302
    assert _post(client, f"/studies/{study.id}/members", {"username": "VAL", "role": "analyst"}).status_code == 302
    page = client.get(f"/studies/{study.id}/edit").get_data(as_text=True)
    assert "Val (val)" in page and "Analyst" in page
    response = _post(client, f"/studies/{study.id}/members", {"username": "nobody", "role": "viewer"})
    assert response.status_code == 400
    assert "There is no user with that username" in response.get_data(as_text=True)
    with db.read_session() as s:
        val_id = s.scalar(select(StudyMembership.user_id).where(StudyMembership.role == Role.ANALYST))
    token = csrf_token(page)
    assert client.post(f"/studies/{study.id}/members/{val_id}/remove", data={"csrf_token": token}).status_code == 302
    with db.read_session() as s:
        assert s.get(StudyMembership, (study.id, val_id)) is None
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study.id)).all()
    assert actions.count("study.member_add") == 1 and "study.member_update" in actions
    assert "study.member_remove" in actions


def test_last_researcher_cannot_leave(client, signed_in, make_study, db):
    user = signed_in("rae")
    study = make_study("Lonely study", user)
    page = client.get(f"/studies/{study.id}/edit").get_data(as_text=True)
    response = client.post(f"/studies/{study.id}/members/{user.id}/remove", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 400
    assert "only researcher" in response.get_data(as_text=True)


def test_the_deidentification_page_counts_what_was_replaced_and_dates_the_measures(client, signed_in, make_study,
                                                                                   make_user):
    import io

    from .helpers import csrf_token

    rita = signed_in("rita", Role.RESEARCHER)
    study = make_study("Annuitant calls", rita)
    page = client.get(f"/studies/{study.id}/upload")
    text = "Maria Alvarez called from 202-555-0143. Maria said the letter never came.\n"
    assert client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview",
        "files": [(io.BytesIO(text.encode()), "call.txt")]}, content_type="multipart/form-data").status_code == 302
    html = " ".join(client.get(f"/studies/{study.id}/deidentification").get_data(as_text=True).split())
    assert "1 source; 1 with at least one replacement; 0 replaced by hand" in html
    assert "<th scope=\"row\">Person</th><td>2</td>" in html and "<th scope=\"row\">Phone</th><td>1</td>" in html
    assert "Measured on 2026-" in html and "Presidio synthetic set" in html
    assert "Maria" not in html and "0143" not in html
    make_user("olga", Role.RESEARCHER)
    other = make_study("Elsewhere", make_user("owner2", Role.RESEARCHER))
    assert client.get(f"/studies/{other.id}/deidentification").status_code == 404


def test_a_study_roster_and_never_redact_list_apply_to_what_is_uploaded_next(app, client, db, signed_in, make_study,
                                                                            make_user, stored_files):
    """A term on the never-redact list keeps its words ("Grace period") while the participant
    on the roster (Grace Whitfield) is redacted wherever she is named, whole or in part; the
    database holds only keyed hashes of her name; a non-member cannot see the page."""
    import io

    from sqlalchemy import select

    from research_repo.models import Source, StudyTerm

    from .helpers import csrf_token

    rita = signed_in("rita", Role.RESEARCHER)
    study = make_study("Roster study", rita)
    url = f"/studies/{study.id}/deidentification"

    def post(what, **data):
        token = csrf_token(client.get(url).get_data(as_text=True))
        return client.post(f"{url}/{what}", data={"csrf_token": token, **data})

    def upload(name, text):
        page = client.get(f"/studies/{study.id}/upload")
        return client.post(f"/studies/{study.id}/upload", data={
            "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview",
            "files": [(io.BytesIO(text.encode()), name)]}, content_type="multipart/form-data")

    note = "Grace period questions came up; grace said the estimate was wrong.\n"
    assert upload("before.txt", note).status_code == 302
    assert post("roster", names="Grace Whitfield").status_code == 302
    assert post("keep", terms="Grace period").status_code == 302
    assert upload("after.txt", note + "Whitfield called again.\n").status_code == 302
    with db.read_session() as s:
        texts = [src.text for src in s.scalars(select(Source).order_by(Source.id))]
        terms = s.scalars(select(StudyTerm)).all()
    # Before: the engine alone took "Grace period" for a name and spread it.
    assert texts[0] == "[PERSON_1] period questions came up; [PERSON_1] said the estimate was wrong."
    # The roster holds hashes only, so "grace" and "Whitfield" cannot be linked to one pseudonym.
    assert texts[1] == "Grace period questions came up; [PERSON_1] said the estimate was wrong.\n[PERSON_2] called again."
    assert {t.kind for t in terms} == {"roster", "keep"}
    assert all(t.value is None and len(t.digest) == 64 for t in terms if t.kind == "roster")
    for f in stored_files():
        if "index" not in f.parts:
            assert b"Whitfield" not in stored_bytes(f), f
    page = " ".join(client.get(url).get_data(as_text=True).split())
    assert "The roster holds 3 hashes" in page and "Whitfield" not in page
    from .helpers import login

    make_user("val", Role.VIEWER)
    other = app.test_client()
    assert login(other, "val").status_code == 302
    assert other.get(url).status_code == 404  # not a member: the study is hidden
