"""Sign in, sign out, revocable sessions, CSRF and throttling."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from sqlalchemy import select

from research_repo.models import AuditEvent, LoginFailure, Role, Study

from .helpers import PASSWORD, csrf_token, login


def test_sign_in_and_see_studies(client, make_user):
    make_user("alex")
    response = login(client, "alex")
    assert response.status_code == 302
    page = client.get(response.headers["Location"], follow_redirects=True)
    assert "Studies" in page.get_data(as_text=True)
    assert "Alex (Researcher)" in page.get_data(as_text=True)


def test_wrong_password_says_so_without_saying_which(client, make_user):
    make_user("alex")
    wrong_password = login(client, "alex", "not the password")
    unknown_user = login(client, "nobody", PASSWORD)
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert "The username or password is not right" in response.get_data(as_text=True)


def test_pages_need_sign_in(client):
    response = client.get("/studies")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/studies")


def test_next_only_goes_to_local_paths(client, make_user):
    make_user("alex")
    page = client.get("/login?next=//evil.example/steal")
    response = client.post("/login?next=//evil.example/steal", data={
        "username": "alex", "password": PASSWORD, "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/"


def test_cookie_captured_before_logout_no_longer_works(app, client, signed_in):
    signed_in("alex")
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert client.get("/studies").status_code == 200
    page = client.get("/studies").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302

    attacker = app.test_client()
    attacker.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    response = attacker.get("/studies")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_deactivating_a_user_ends_their_sessions(app, client, db, signed_in):
    user = signed_in("alex")
    assert client.get("/studies").status_code == 200
    from research_repo.services import accounts

    with db.writing() as s:
        admin = accounts.create_user(s, None, username="root", display_name="Root", password=PASSWORD, role=Role.ADMIN)
        accounts.update_user(s, admin, user.id, role=Role.RESEARCHER, is_active=False)
    assert client.get("/studies").status_code == 302
    assert login(client, "alex").status_code == 401


def test_state_changing_post_without_csrf_token_is_refused(client, signed_in, db):
    signed_in("alex")
    response = client.post("/studies/new", data={"name": "Sneaky", "service": "USAJOBS", "method": "interviews"})
    assert response.status_code == 400
    assert "This form expired or was not sent from this site" in response.get_data(as_text=True)
    with db.read_session() as s:
        assert s.scalar(select(Study).where(Study.name == "Sneaky")) is None


def test_logout_without_csrf_token_does_not_sign_out(client, signed_in):
    signed_in("alex")
    assert client.post("/logout").status_code == 400
    assert client.get("/studies").status_code == 200


def test_login_form_needs_csrf_token_too(client, make_user):
    make_user("alex")
    assert client.post("/login", data={"username": "alex", "password": PASSWORD}).status_code == 400


def test_throttle_after_repeated_failures_even_with_right_password(app, client, make_user, db):
    make_user("alex")
    limit = app.config["LOGIN_MAX_FAILURES_PER_USER"]
    for _ in range(limit):
        assert login(client, "alex", "wrong password!").status_code == 401
    response = login(client, "alex")  # right password, but too late
    assert response.status_code == 429
    # AC-7: three consecutive failures lock the account for 30 minutes.
    assert limit == 3 and "sign-in is locked for now. Try again in 30 minutes" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) == 30 * 60
    with db.read_session() as s:
        keys = s.scalars(select(LoginFailure.username_key)).all()
    assert len(keys) == limit and "alex" not in "".join(keys)  # stored as keyed hashes only


def test_throttle_holds_in_another_process(app, client, make_user, data_dir):
    """Failures recorded here are seen by a separate worker process on the same database."""
    make_user("alex")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_USER"]):
        login(client, "alex", "wrong password!")
    script = textwrap.dedent(f"""
        import json, re
        from research_repo import create_app
        app = create_app({{"ENVIRONMENT": "test", "SECRET_KEY": {app.config['SECRET_KEY']!r},
                          "DATA_DIR": {str(data_dir)!r}, "DATABASE_URL": {app.config['DATABASE_URL']!r}}})
        c = app.test_client()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
        r = c.post("/login", data={{"username": "alex", "password": {PASSWORD!r}, "csrf_token": token}})
        print(json.dumps({{"status": r.status_code}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"status": 429}


def test_per_client_limit_covers_many_usernames(app_config, make_user):
    from research_repo import create_app

    app = create_app({**app_config, "LOGIN_MAX_FAILURES_PER_CLIENT": 3})
    client = app.test_client()
    make_user("alex")
    for name in ("a1", "a2", "a3"):
        assert login(client, name, "guess guess guess").status_code == 401
    assert login(client, "alex").status_code == 429


def test_successful_sign_in_clears_failures_and_is_audited(client, make_user, db):
    user = make_user("alex")
    login(client, "alex", "wrong password!")
    assert login(client, "alex").status_code == 302
    with db.read_session() as s:
        assert s.query(LoginFailure).count() == 0
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == user.id)).all()
    assert "auth.login" in actions
