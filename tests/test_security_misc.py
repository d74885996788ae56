"""Side doors: files readable by their owner only, a deleted source's text gone from the
database files, and redirect targets that cannot split headers or leave the site."""
from __future__ import annotations

import io
import os
import stat
import subprocess
import sys

from research_repo.models import Role
from research_repo.search import indexer

from .helpers import csrf_token, stored_bytes


def test_what_the_commands_write_is_readable_by_its_owner_only(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEARCH_REPO_")}
    env.update(RESEARCH_REPO_DATA_DIR=str(data), RESEARCH_REPO_PASSWORD_HASH_ITERATIONS="600000")
    subprocess.run([sys.executable, "-c", "from research_repo.cli import main; main()", "init", "--admin-username",
                    "boss", "--admin-password", "a long enough password"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "from research_repo.cli import main; main()", "reindex"], env=env,
                   check=True, capture_output=True)
    written = [p for p in data.rglob("*")]
    assert any(p.name == "research_repo.sqlite3" for p in written) and any(p.parent.name == "index" for p in written)
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


def test_a_deleted_sources_text_leaves_the_database_files_and_index(app, client, signed_in, make_study,
                                                                    stored_files):
    user = signed_in("sara", Role.RESEARCHER)
    study = make_study("Deletions", user)
    page = client.get(f"/studies/{study.id}/upload")
    response = client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview",
        "files": [(io.BytesIO(b"The quetzalcoatlus paperwork went missing twice."), "a.txt")]},
        content_type="multipart/form-data")
    source_url = response.headers["Location"]
    indexer.drain_all(app)
    assert client.get("/api/v1/search", query_string={"q": "quetzalcoatlus"}).get_json()["total"] == 1
    delete_url = source_url.split("#")[0] + "/delete"
    page = client.get(delete_url).get_data(as_text=True)
    assert client.post(delete_url, data={"csrf_token": csrf_token(page)}).status_code == 302
    indexer.drain_all(app)
    assert client.get("/api/v1/search", query_string={"q": "quetzalcoatlus"}).get_json()["total"] == 0
    found = [p.name for p in stored_files(wal=False) if b"quetzalcoatlus" in stored_bytes(p)]
    assert not found, found


def test_redirect_targets_with_line_breaks_or_backslashes_are_refused(client, make_user):
    make_user("alex")
    assert client.get("/login?next=/studies%0d%0aSet-Cookie:%20x=1").status_code == 400
    assert client.get("/login?next=/studies%0aX:1").status_code == 400
    for target in ("/\\evil.example", "/\\/evil.example", "//evil.example", "https://evil.example/"):
        page = client.get("/login", query_string={"next": target})
        response = client.post("/login", query_string={"next": target}, data={
            "username": "alex", "password": "correct horse battery staple",
            "csrf_token": csrf_token(page.get_data(as_text=True))})
        assert response.status_code == 302 and response.headers["Location"] in ("/studies", "/"), target
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/studies").get_data(as_text=True))})
