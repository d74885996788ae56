"""Who may open which page and send which form: the role x route matrix."""
from __future__ import annotations

import pytest

from research_repo.models import Role

from .helpers import csrf_token, login

# Callers: an admin, the study's researcher, analyst and viewer, a researcher who is
# not a member, and someone not signed in.
CALLERS = ("admin", "researcher", "analyst", "viewer", "outsider", "anonymous")
GLOBAL_ROLE = {
    "admin": Role.ADMIN, "researcher": Role.RESEARCHER, "analyst": Role.ANALYST,
    "viewer": Role.VIEWER, "outsider": Role.RESEARCHER,
}

GET_MATRIX = {
    "/studies":                 dict(admin=200, researcher=200, analyst=200, viewer=200, outsider=200, anonymous=302),
    "/studies/new":             dict(admin=200, researcher=200, analyst=403, viewer=403, outsider=200, anonymous=302),
    "/studies/{id}":            dict(admin=200, researcher=200, analyst=200, viewer=200, outsider=404, anonymous=302),
    "/studies/{id}/edit":       dict(admin=200, researcher=200, analyst=403, viewer=403, outsider=404, anonymous=302),
    "/admin/users":             dict(admin=200, researcher=403, analyst=403, viewer=403, outsider=403, anonymous=302),
    "/studies/{id}/upload":     dict(admin=200, researcher=200, analyst=403, viewer=403, outsider=404, anonymous=302),
    "/studies/{id}/sources":    dict(admin=200, researcher=200, analyst=200, viewer=200, outsider=404, anonymous=302),
    # No index yet: members are told search is unavailable; someone who may read nothing gets nothing.
    "/api/v1/search?q=x":       dict(admin=503, researcher=503, analyst=503, viewer=503, outsider=200, anonymous=401),
}

STUDY_FORM = {"name": "Renamed study", "service": "Retirement Services", "method": "interviews"}
POST_MATRIX = {
    ("/studies/new", "new"):             dict(admin=302, researcher=302, analyst=403, viewer=403, outsider=302, anonymous=302),
    ("/studies/{id}/edit", "edit"):      dict(admin=302, researcher=302, analyst=403, viewer=403, outsider=404, anonymous=302),
    ("/studies/{id}/members", "member"): dict(admin=302, researcher=302, analyst=403, viewer=403, outsider=404, anonymous=302),
    ("/admin/users", "user"):            dict(admin=302, researcher=403, analyst=403, viewer=403, outsider=403, anonymous=302),
}
POST_DATA = {
    "new": {**STUDY_FORM, "name": "Another study"},
    "edit": STUDY_FORM,
    "member": {"username": "outsider", "role": "viewer"},
    "user": {"username": "newbie", "display_name": "New Bie", "role": "viewer", "password": "a long enough password"},
}


@pytest.fixture
def world(make_user, make_study):
    users = {name: make_user(name, role) for name, role in GLOBAL_ROLE.items()}
    study = make_study("Matrix study", users["admin"], members={
        "researcher": Role.RESEARCHER, "analyst": Role.ANALYST, "viewer": Role.VIEWER})
    return users, study


def _client_for(app, caller):
    client = app.test_client()
    if caller != "anonymous":
        assert login(client, caller).status_code == 302
    return client


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", GET_MATRIX)
def test_get(app, world, path, caller):
    _, study = world
    response = _client_for(app, caller).get(path.format(id=study.id))
    assert response.status_code == GET_MATRIX[path][caller]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", POST_MATRIX)
def test_post(app, world, route, caller):
    _, study = world
    path, form = route
    client = _client_for(app, caller)
    token = csrf_token(client.get("/login").get_data(as_text=True)) if caller == "anonymous" else csrf_token(
        client.get("/studies").get_data(as_text=True))
    response = client.post(path.format(id=study.id), data={**POST_DATA[form], "csrf_token": token})
    assert response.status_code == POST_MATRIX[route][caller], response.get_data(as_text=True)[:300]


def test_outsider_cannot_tell_a_study_exists(app, world):
    _, study = world
    client = _client_for(app, "outsider")
    hidden = client.get(f"/studies/{study.id}")
    missing = client.get("/studies/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_data(as_text=True) == missing.get_data(as_text=True)


def test_study_list_shows_only_readable_studies(app, world, make_study):
    users, _ = world
    make_study("Another team's study", users["outsider"])
    viewer_page = _client_for(app, "viewer").get("/studies").get_data(as_text=True)
    assert "Matrix study" in viewer_page and "Another team&#39;s study" not in viewer_page
    admin_page = _client_for(app, "admin").get("/studies").get_data(as_text=True)
    assert "Matrix study" in admin_page and "Another team&#39;s study" in admin_page


def test_a_name_only_a_hidden_study_has_is_not_refused(app, world):
    """Creating a study named like one you cannot read must not confirm that one exists: the
    name is accepted, exactly as a name nobody uses. Among your own studies names stay unique."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from research_repo.cli import main

    _, study = world
    client = _client_for(app, "outsider")
    new = csrf_token(client.get("/studies/new").get_data(as_text=True))
    taken = client.post("/studies/new", data={**STUDY_FORM, "name": "MATRIX study", "csrf_token": new})
    fresh = client.post("/studies/new", data={**STUDY_FORM, "name": "Nobody uses this", "csrf_token": new})
    assert taken.status_code == fresh.status_code == 302
    again = client.post("/studies/new", data={**STUDY_FORM, "name": "matrix STUDY", "csrf_token": new})
    assert again.status_code == 400 and "already exists" in again.get_data(as_text=True)
    # The admin reads both; the command line asks which one by id.
    runner = CliRunner()
    invoke = lambda *args: runner.invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))  # noqa: E731
    both = invoke("imports", "list", "--study", "Matrix study")
    assert both.exit_code == 1 and f"#{study.id}" in both.output and "2 studies have that name" in both.output
    one = invoke("imports", "list", "--study", f"#{study.id}")
    assert one.exit_code == 0, one.output
