"""User administration pages."""
from __future__ import annotations

from sqlalchemy import select

from research_repo.models import AuditEvent, Role, User

from .helpers import csrf_token, login


def test_admin_creates_user_who_can_sign_in(app, client, signed_in, db):
    signed_in("root", Role.ADMIN)
    token = csrf_token(client.get("/admin/users").get_data(as_text=True))
    response = client.post("/admin/users", data={
        "username": "Newbie", "display_name": "New Bie", "role": "analyst",
        "password": "a long enough password", "csrf_token": token})
    assert response.status_code == 302
    page = client.get("/admin/users").get_data(as_text=True)
    assert "User newbie created." in page
    assert login(app.test_client(), "newbie", "a long enough password").status_code == 302
    with db.read_session() as s:
        newbie = s.scalar(select(User).where(User.username == "newbie"))
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "user.create", AuditEvent.object_id == newbie.id))
    assert (newbie.role, newbie.display_name) == (Role.ANALYST, "New Bie")
    assert event.details == {"role": "analyst"}


def test_short_password_and_taken_username_are_explained(client, signed_in):
    signed_in("root", Role.ADMIN)
    token = csrf_token(client.get("/admin/users").get_data(as_text=True))
    short = client.post("/admin/users", data={"username": "x", "display_name": "X", "role": "viewer",
                                              "password": "short", "csrf_token": token})
    assert short.status_code == 400
    assert "Use a password of at least 12 characters." in short.get_data(as_text=True)
    taken = client.post("/admin/users", data={"username": "ROOT", "display_name": "X", "role": "viewer",
                                              "password": "a long enough password", "csrf_token": token})
    assert taken.status_code == 400
    assert "The username &#39;root&#39; is taken" in taken.get_data(as_text=True)


def test_admin_changes_role_and_deactivates(client, signed_in, make_user, db):
    signed_in("root", Role.ADMIN)
    other = make_user("sam", Role.VIEWER)
    token = csrf_token(client.get("/admin/users").get_data(as_text=True))
    response = client.post(f"/admin/users/{other.id}", data={
        f"u{other.id}-role": "researcher", "csrf_token": token})  # unchecked box: inactive
    assert response.status_code == 302
    with db.read_session() as s:
        sam = s.get(User, other.id)
        assert (sam.role, sam.is_active) == (Role.RESEARCHER, False)


def test_admin_cannot_lock_themselves_out(client, signed_in, db):
    root = signed_in("root", Role.ADMIN)
    token = csrf_token(client.get("/admin/users").get_data(as_text=True))
    response = client.post(f"/admin/users/{root.id}", data={f"u{root.id}-role": "viewer", "csrf_token": token})
    assert response.status_code == 400
    assert "cannot remove your own administrator role" in response.get_data(as_text=True)
    with db.read_session() as s:
        assert s.get(User, root.id).role is Role.ADMIN
