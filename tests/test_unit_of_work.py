"""One commit point per request: a view's writes commit when it returns and are rolled back
as a whole when a service refuses part of the way through; refusals that must be remembered
(an access denial's audit event) still are."""
from __future__ import annotations

import ast
import io
from pathlib import Path

from sqlalchemy import func, select

from research_repo.models import AuditEvent, Insight, Role

from .helpers import csrf_token, settle

ROOT = Path(__file__).resolve().parent.parent / "research_repo"


def _upload(client, study_id: int, text: str, name: str = "interview.txt") -> None:
    page = client.get(f"/studies/{study_id}/upload")
    response = client.post(f"/studies/{study_id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview",
        "files": [(io.BytesIO(text.encode()), name)]}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)


def _insights(db) -> int:
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(Insight))


def test_a_refusal_after_a_write_takes_the_whole_request_back(app, client, db, signed_in, make_study):
    """Creating an insight writes it, then its evidence is refused (a passage of a study the
    writer cannot read): nothing of the request stays, on the page form and in the API."""
    rita = signed_in("rita", Role.RESEARCHER)
    mine = make_study("Mine", rita)
    other = make_study("Theirs", rita)
    _upload(client, other.id, "Moderator: Hello.\nP1: The interim payment was late again.\n")
    settle(app)
    with db.read_session() as s:
        from research_repo.models import Passage, Source

        passage_id = s.scalar(select(Passage.id).join(Source).where(Source.study_id == other.id))
    page = client.get(f"/studies/{mine.id}/insights")
    response = client.post(f"/studies/{mine.id}/insights", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "statement": "Interim pay is late.",
        "passage": str(passage_id)})
    assert response.status_code in (400, 404), response.status_code
    assert _insights(db) == 0
    token = client.post("/account/tokens", data={
        "csrf_token": csrf_token(client.get("/account/tokens").get_data(as_text=True)), "name": "t"})
    bearer = token.get_data(as_text=True).split('id="new-token">')[1].split("<")[0].strip()
    api = app.test_client()
    answer = api.post(f"/api/v1/studies/{mine.id}/insights", headers={"Authorization": f"Bearer {bearer}"},
                      json={"statement": "Interim pay is late.", "evidence": {"passages": [passage_id]}})
    assert answer.status_code in (400, 404) and answer.get_json()["error"]["message"]
    assert _insights(db) == 0
    ok = api.post(f"/api/v1/studies/{mine.id}/insights", headers={"Authorization": f"Bearer {bearer}"},
                  json={"statement": "Interim pay is late."})
    assert ok.status_code == 201 and _insights(db) == 1


def test_a_denied_write_is_rolled_back_but_its_audit_event_stays(client, db, signed_in, make_study, make_user):
    owner = make_user("owner", Role.RESEARCHER)
    signed_in("vic", Role.VIEWER)
    study = make_study("Owned", owner, members={"vic": Role.VIEWER})
    page = client.get(f"/studies/{study.id}/codebook")
    response = client.post(f"/studies/{study.id}/codebook", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "name": "Sneaky"})
    assert response.status_code == 403
    with db.read_session() as s:
        denied = s.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
        from research_repo.models import Tag

        assert not s.scalars(select(Tag).where(Tag.name == "Sneaky")).all()
    assert [(e.study_id, e.details.get("status")) for e in denied] == [(study.id, 403)]


def _calls(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.name}:{node.lineno} .{node.func.attr}()" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names]


def test_views_and_the_api_never_commit_or_roll_back_themselves():
    """The request's unit of work (``extensions``) is the one commit point."""
    files = sorted((ROOT / "views").glob("*.py")) + sorted((ROOT / "api").glob("*.py"))
    assert len(files) >= 9
    found = [call for f in files for call in _calls(f, {"commit", "rollback"})]
    assert found == []
