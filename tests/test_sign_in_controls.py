"""Sign-in controls at FedRAMP Moderate parameters, on a controlled clock: lockout after 3
consecutive failures (AC-7), idle and absolute session limits (AC-11/AC-12), password change
and reset that end other sessions and tokens, token rules, FIPS-approved password hashes,
dormant accounts, least privilege for new users, and the audit events of each."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from research_repo import create_app
from research_repo.models import ApiToken, AuditEvent, Role, User
from research_repo.services import accounts

from .helpers import PASSWORD, csrf_token, login

NEW_PASSWORD = "another long passphrase 42"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(accounts, "_now", c)
    return c


def actions(db) -> list[str]:
    with db.read_session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_three_failures_lock_the_account_for_30_minutes(app, client, make_user, db, clock):
    make_user("alex")
    for _ in range(3):
        assert login(client, "alex", "wrong password!").status_code == 401
    response = login(client, "alex")  # the right password, locked
    assert response.status_code == 429 and int(response.headers["Retry-After"]) == 30 * 60
    clock.advance(minutes=29)
    assert login(client, "alex").status_code == 429
    clock.advance(minutes=2)
    assert login(client, "alex").status_code == 302
    seen = actions(db)
    assert seen.count("auth.login_failed") == 3 and seen.count("auth.lockout") == 1
    assert seen.count("auth.login_locked") == 2 and "auth.login" in seen
    with db.read_session() as s:
        assert all(e.client == "127.0.0.1" for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action.like("auth.%"))))


def test_failures_further_apart_than_the_window_do_not_lock(client, make_user, clock):
    make_user("alex")
    for _ in range(2):
        login(client, "alex", "wrong password!")
    clock.advance(minutes=16)
    for _ in range(2):
        assert login(client, "alex", "wrong password!").status_code == 401
    assert login(client, "alex").status_code == 302


def test_an_admin_unlocks_a_locked_account(app, client, make_user, db, clock):
    make_user("alex")
    make_user("root", Role.ADMIN)
    for _ in range(3):
        login(client, "alex", "wrong password!")
    with db.read_session() as s:
        alex = s.scalar(select(User).where(User.username == "alex"))
    admin = app.test_client()
    assert login(admin, "root").status_code == 302
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "Unlock alex" in page
    assert admin.post(f"/admin/users/{alex.id}/unlock", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert login(client, "alex").status_code == 302
    assert "auth.unlock" in actions(db)


def test_a_session_ends_after_15_idle_minutes_and_at_its_absolute_limit(app, client, make_user, db, clock):
    make_user("alex")
    assert login(client, "alex").status_code == 302
    for _ in range(3):  # active: each request within the idle limit keeps it alive
        clock.advance(minutes=14)
        assert client.get("/studies").status_code == 200
    page = client.get("/studies").get_data(as_text=True)
    assert 'data-idle-seconds="900"' in page and "You will be signed out in 2 minutes" in page
    clock.advance(minutes=15, seconds=1)
    response = client.get("/studies")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "auth.session_timeout" in actions(db)
    # The absolute limit (SESSION_HOURS = 8) holds however active the session is.
    assert login(client, "alex").status_code == 302
    for _ in range(8 * 60 // 14 + 1):
        clock.advance(minutes=14)
        status = client.get("/account/ping").status_code
        if status != 204:
            break
    assert status == 302 and clock.now - datetime(2026, 12, 2, 9, 0, tzinfo=UTC) > timedelta(hours=8)


def _token(db, username: str, days: int = 30) -> str:
    with db.writing() as s:
        user = s.scalar(select(User).where(User.username == username))
        _row, token = accounts.create_api_token(s, user, "sync", days=days)
    return token


def test_changing_ones_password_ends_other_sessions_and_tokens(app, client, make_user, db, clock):
    make_user("alex")
    other = app.test_client()
    assert login(client, "alex").status_code == 302 and login(other, "alex").status_code == 302
    token = _token(db, "alex")
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/studies", headers=bearer).status_code == 200
    page = client.get("/account/password").get_data(as_text=True)
    wrong = client.post("/account/password", data={"csrf_token": csrf_token(page), "current": "not it at all",
                                                   "password": NEW_PASSWORD})
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(as_text=True)
    page = client.get("/account/password").get_data(as_text=True)
    done = client.post("/account/password", data={"csrf_token": csrf_token(page), "current": PASSWORD,
                                                  "password": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get("/studies").status_code == 200  # this session stays
    assert other.get("/studies").status_code == 302  # the other one ended
    assert app.test_client().get("/api/v1/studies", headers=bearer).status_code == 401
    assert login(app.test_client(), "alex", NEW_PASSWORD).status_code == 302
    assert {"user.password", "user.password_failed"} <= set(actions(db))


def test_an_admin_reset_and_a_deactivation_end_sessions_and_tokens_for_good(app, client, make_user, db, clock):
    make_user("alex")
    make_user("root", Role.ADMIN)
    assert login(client, "alex").status_code == 302
    token = _token(db, "alex")
    admin = app.test_client()
    login(admin, "root")
    with db.read_session() as s:
        alex_id = s.scalar(select(User.id).where(User.username == "alex"))
    page = admin.get("/admin/users").get_data(as_text=True)
    assert admin.post(f"/admin/users/{alex_id}/password", data={"csrf_token": csrf_token(page),
                                                               "password": NEW_PASSWORD}).status_code == 302
    assert client.get("/studies").status_code == 302
    assert app.test_client().get("/api/v1/studies", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # Deactivating revokes the new token; reactivating does not bring it back.
    token = _token(db, "alex")
    for active in (False, True):
        with db.writing() as s:
            accounts.update_user(s, s.get(User, s.scalar(select(User.id).where(User.username == "root"))), alex_id,
                                 role=Role.RESEARCHER, is_active=active)
    assert app.test_client().get("/api/v1/studies", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with db.read_session() as s:
        assert all(t.revoked_at is not None for t in s.scalars(select(ApiToken)))


def test_token_lifetime_is_at_most_a_year_and_bad_tokens_are_throttled(app, make_user, db, clock):
    make_user("alex")
    with pytest.raises(accounts.ValidationError):
        _token(db, "alex", days=366)
    client = app.test_client()
    limit = app.config["LOGIN_MAX_FAILURES_PER_CLIENT"]
    for n in range(limit):
        assert client.get("/api/v1/studies", headers={"Authorization": f"Bearer rr_guess{n}"}).status_code == 401
    good = _token(db, "alex")
    assert client.get("/api/v1/studies", headers={"Authorization": f"Bearer {good}"}).status_code == 429
    assert actions(db).count("api_token.failed") == limit
    clock.advance(minutes=16)
    assert client.get("/api/v1/studies", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_passwords_are_pbkdf2_sha256_600000_and_older_hashes_are_upgraded(app_config, make_user, db, monkeypatch):
    from werkzeug.security import generate_password_hash

    for key in ("RESEARCH_REPO_PASSWORD_HASH_ITERATIONS",):
        monkeypatch.delenv(key, raising=False)
    production_like = create_app({**app_config, "PASSWORD_HASH_ITERATIONS": 600_000})
    try:
        user = make_user("alex")
        assert user.password_hash.startswith("pbkdf2:sha256:600000$")
        with db.writing() as s:
            s.get(User, user.id).password_hash = generate_password_hash(PASSWORD, method="scrypt")
        assert login(production_like.test_client(), "alex").status_code == 302
        with db.read_session() as s:
            assert s.get(User, user.id).password_hash.startswith("pbkdf2:sha256:600000$")
    finally:
        accounts.configure(password_iterations=app_config["PASSWORD_HASH_ITERATIONS"])
    with pytest.raises(Exception, match="at least 600000"):
        create_app({**app_config, "ENVIRONMENT": "production", "PASSWORD_HASH_ITERATIONS": 1000})


def test_accounts_unused_for_90_days_are_disabled(client, make_user, db, clock):
    make_user("alex")
    assert login(client, "alex").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/studies").get_data(as_text=True))})
    clock.advance(days=91)
    assert login(client, "alex").status_code == 401
    with db.read_session() as s:
        assert s.scalar(select(User.is_active).where(User.username == "alex")) is False
    assert "user.disabled_inactive" in actions(db)


def test_new_users_are_viewers_unless_an_admin_picks_more(app, client, signed_in):
    signed_in("root", Role.ADMIN)
    page = client.get("/admin/users").get_data(as_text=True)
    new_user_form = page[page.index("Add a user"):]
    assert '<option selected value="viewer">' in new_user_form or 'value="viewer" selected' in new_user_form


def test_denials_and_downloads_are_audited_and_an_admin_lists_and_exports_them(app, client, make_user, make_study,
                                                                               db, clock):
    owner = make_user("owner")
    make_user("outsider")
    make_user("root", Role.ADMIN)
    study = make_study("Private study", owner, members={"outsider": Role.VIEWER})
    other = make_study("Other study", owner)
    login(client, "outsider")
    assert client.get(f"/studies/{other.id}").status_code == 404  # hidden: looks like a missing study
    assert client.get("/studies/999999").status_code == 404  # really missing: not a denial
    assert client.get(f"/studies/{study.id}/upload").status_code == 403  # a viewer may not upload
    assert client.get(f"/studies/{study.id}/export/highlights.csv").status_code in (200, 404)
    admin = app.test_client()
    login(admin, "root")
    page = admin.get("/admin/audit", query_string={"action": "access.denied"}).get_data(as_text=True)
    assert page.count('<td data-label="Action">access.denied</td>') == 2 and "outsider" in page and "127.0.0.1" in page
    csv_text = admin.get("/admin/audit", query_string={"actor": "outsider", "format": "csv"}).get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,at,action,user") and all(",outsider," in line for line in lines[1:])
    assert any("access.denied" in line for line in lines[1:])
    with db.read_session() as s:
        denied = s.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert {e.study_id for e in denied} == {other.id, study.id}
    # The admin's own CSV download is audited too.
    assert "export.download" in actions(db)
    assert admin.get("/admin/audit", query_string={"since": "yesterday"}).status_code == 400
