"""A full disk under the data directory (a small tmpfs): uploads are refused with a message
that says so and store nothing, nothing stored before is lost, the index writer waits and
the search page says results are behind, and everything recovers by itself when space returns.

Needs permission to mount a tmpfs (root in a container that allows it); skipped otherwise,
with the reason.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from research_repo.models import IndexOutbox, Role, Source
from research_repo.search import indexer

from .helpers import csrf_token

SIZE_MB = 3


@pytest.fixture
def data_dir(tmp_path, migrated_db, database_url):
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {SIZE_MB} MB tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "the disk-full test needs it")
    if database_url is None:  # SQLite: the database is on the small disk too
        shutil.copy(migrated_db, mount / "research_repo.sqlite3")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path, leave_bytes: int) -> Path:
    """Fill the file system of ``directory`` up to ``leave_bytes`` free."""
    filler = directory / "filler.bin"
    free = shutil.disk_usage(directory).free
    with filler.open("wb") as f:
        remaining = max(0, free - leave_bytes)
        while remaining > 0:
            chunk = min(remaining, 1 << 20)
            try:
                f.write(b"\0" * chunk)
                f.flush()
            except OSError:
                break
            remaining -= chunk
    return filler


def _upload(client, study_id: int, name: str, text: str):
    page = client.get(f"/studies/{study_id}/upload")
    return client.post(f"/studies/{study_id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview",
        "files": [(io.BytesIO(text.encode()), name)]}, content_type="multipart/form-data")


def _note(word: str, kb: int) -> str:
    line = f"The participant described the {word} letter and the long wait for interim pay. "
    return line * (kb * 1024 // len(line))


# Whoosh leaves a failed writer's files open when the disk is full; they are closed when the
# exception is freed, and that close warns. The files are the index's, not identified text.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.sqlite_only("fills the disk the SQLite database is on; PostgreSQL's database lives on the server's")
def test_a_full_disk_refuses_uploads_clearly_loses_nothing_and_recovers(app, client, db, signed_in, make_study,
                                                                        data_dir):
    user = signed_in("rita", Role.RESEARCHER)
    study = make_study("Disk", user)
    first = _upload(client, study.id, "first.txt", _note("zebra", 20))
    assert first.status_code == 302
    indexer.drain_all(app)

    filler = _fill(data_dir, leave_bytes=64 * 1024)
    refused = [_upload(client, study.id, f"big{i}.txt", _note(f"walrus{i}", 400)) for i in range(3)]
    for response in refused:
        page = response.get_data(as_text=True)
        assert response.status_code == 507, (response.status_code, page[:300])
        assert "disk that holds the repository&#39;s data is full" in page and "Nothing stored before was lost" in page
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 1  # the one acknowledged upload

    # Space comes back: uploads work again, with no restart.
    filler.unlink()
    again = _upload(client, study.id, "big.txt", _note("walrus", 400))
    assert again.status_code == 302
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 2

    # The index cannot take it while the disk is full: the writer fails (and its thread backs
    # off), the outbox keeps the change, and searching still answers from the index it has.
    filler = _fill(data_dir, leave_bytes=8 * 1024)
    with pytest.raises(OSError):
        indexer.drain(app, blocking=True)
    assert indexer.pending(app) > 0
    response = client.get("/search", query_string={"q": "zebra"})
    assert response.status_code == 200 and "zebra" in response.get_data(as_text=True).lower()

    filler.unlink()
    indexer.drain_all(app)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(IndexOutbox)) == 0
    missing, extra = indexer.consistency(app)
    assert not missing and not extra
    assert client.get("/api/v1/search", query_string={"q": "walrus"}).get_json()["total"] >= 1


@pytest.mark.whoosh_only("mounts a file system at the Whoosh index directory")
def test_an_index_directory_that_is_its_own_mount_point_is_rebuilt(app, client, db, signed_in, make_study, tmp_path):
    """A rebuild renamed the index directory, which fails when it is a mount point (EBUSY):
    such an index could never be rebuilt. It now swaps directories inside it."""
    from research_repo import search

    backend = search.backend(app)
    root = getattr(backend, "root", backend.index_dir)  # INDEX_DIR
    root.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(root)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        user = signed_in("rita", Role.RESEARCHER)
        study = make_study("Mounted", user)
        assert _upload(client, study.id, "a.txt", _note("ocelot", 2)).status_code == 302
        assert _upload(client, study.id, "b.txt", _note("marmot", 2)).status_code == 302
        indexer.drain_all(app)  # the first drain builds the index inside the mount point
        assert os.path.ismount(root)
        indexer.rebuild(app)  # and a rebuild swaps it in there
        with db.read_session() as s:
            source = s.scalars(select(Source).order_by(Source.id)).first()
        page = client.get(f"/studies/{study.id}/sources/{source.id}/delete")
        response = client.post(f"/studies/{study.id}/sources/{source.id}/delete",
                               data={"csrf_token": csrf_token(page.get_data(as_text=True))})
        assert response.status_code == 302
        indexer.drain_all(app)  # a delete rebuilds, as after a redaction
        assert client.get("/api/v1/search", query_string={"q": "ocelot"}).get_json()["total"] == 0
        assert client.get("/api/v1/search", query_string={"q": "marmot"}).get_json()["total"] >= 1
        missing, extra = indexer.consistency(app)
        assert not missing and not extra
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)
