"""Search through the real index: the outbox drained by the one writer, queries, facets,
highlights, access, deletes that leave the index files, and a missing or corrupt index."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from research_repo import search
from research_repo.models import Role
from research_repo.search import indexer

from .helpers import csrf_token, login, stored_bytes

NOTES = {
    "annuity.txt": ("Moderator: How was the wait?\nP1: The interim annuity payments started late.\n"
                    "Moderator: And then?\nP1: The annuities were recalculated in March 2024.\n"),
    "login.txt": ("Moderator: What about signing in?\nP2: Login.gov locked me out, so I phoned the Retirement "
                  "Information Office.\nModerator: Thanks.\nP2: My codeword for that mess is spaghetti, honestly.\n"),
    "markup.txt": "The letter said <b>urgent</b> & final, with no phone number to call about the survivor annuity.",
}


def upload(client, study_id, name, text, kind="interview"):
    page = client.get(f"/studies/{study_id}/upload")
    response = client.post(f"/studies/{study_id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": kind,
        "files": [(io.BytesIO(text.encode()), name)]}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.fixture
def corpus(app, client, signed_in, make_study):
    user = signed_in("sara", Role.RESEARCHER)
    study = make_study("Annuitant interviews", user)
    urls = {name: upload(client, study.id, name, text) for name, text in NOTES.items()}
    indexer.drain_all(app)
    return study, urls


def hits(client, **params):
    response = client.get("/api/v1/search", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_uploads_are_searched_after_the_writer_drains_the_outbox(app, client, signed_in, make_study):
    user = signed_in("sara", Role.RESEARCHER)
    study = make_study("Fresh", user)
    upload(client, study.id, "a.txt", "The deferred retirement estimate never arrived.")
    assert search.backend(app).exists() is False  # web requests never write the index
    assert indexer.pending(app) == 1
    indexer.drain_all(app)
    assert indexer.pending(app) == 0
    body = hits(client, q="deferred")
    assert body["total"] == 1 and body["hits"][0]["url"].endswith(f"#passage-{body['hits'][0]['passage_id']}")
    upload(client, study.id, "b.txt", "Deferred again, said the second participant.")
    assert hits(client, q="deferred")["total"] == 1  # not yet drained
    indexer.drain_all(app)
    assert hits(client, q="deferred")["total"] == 2


def test_query_language(client, corpus):
    assert hits(client, q="annuities")["total"] == 3  # stemming: annuity, annuities
    assert hits(client, q='"interim annuity"')["total"] == 1
    assert hits(client, q='"annuity interim"')["total"] == 0
    assert hits(client, q="annuity AND NOT survivor")["total"] == 2
    assert hits(client, q="annuity OR spaghetti")["total"] == 4
    assert hits(client, q="recalc*")["total"] == 1
    assert hits(client, q="speaker:P2 phoned")["total"] == 1
    assert hits(client, q="speaker:MODERATOR annuity")["total"] == 0
    assert hits(client, q="intrim")["suggestion"] == "interim"


def test_snippets_highlight_matches_and_escape_html(client, corpus):
    body = hits(client, q="urgent")
    snippet = body["hits"][0]["snippet_html"]
    assert '<mark class="rr-hit' in snippet and "urgent</mark>" in snippet
    assert "&lt;b&gt;" in snippet and "<b>" not in snippet.replace("<mark", "")
    page = client.get("/search", query_string={"q": "urgent"}).get_data(as_text=True)
    assert "&lt;b&gt;" in page and "<b>urgent" not in page


def test_facets_filters_sort_and_pages(client, corpus):
    study, _ = corpus
    body = hits(client, q="")
    assert body["total"] == 9
    facets = {f["name"]: {v["value"]: v["count"] for v in f["values"]} for f in body["facets"]}
    assert facets["speaker"] == {"MODERATOR": 4, "P1": 2, "P2": 2}
    assert facets["study"] == {str(study.id): 9} and facets["kind"] == {"interview": 9}
    assert hits(client, speaker="P1")["total"] == 2
    assert hits(client, speaker=["P1", "P2"])["total"] == 4
    assert hits(client, q="annuity", speaker="P2")["total"] == 0
    first = hits(client, q="", per_page=4)
    second = hits(client, q="", per_page=4, page=2)
    assert first["pages"] == 3 and not {h["passage_id"] for h in first["hits"]} & {h["passage_id"] for h in second["hits"]}
    assert client.get("/api/v1/search", query_string={"from": "yesterday"}).status_code == 400
    page = client.get("/search", query_string={"q": "annuity"}).get_data(as_text=True)
    assert "Annuitant interviews (3)" in page  # the study facet shows names, not ids


def test_results_and_facets_come_only_from_readable_studies(app, client, corpus, make_user, make_study):
    other_owner = make_user("omar", Role.RESEARCHER)
    other = make_study("Someone else's study", other_owner)
    with app.test_client() as omar:
        assert login(omar, "omar").status_code == 302
        # Not at the start of a sentence: the person tagger (threshold 0.032) takes a capitalized
        # "Spaghetti" there for a name, an over-redaction this test is not about.
        upload(omar, other.id, "x.txt", "The spaghetti appears in this study too, with an annuity.")
    indexer.drain_all(app)
    body = hits(client, q="spaghetti")
    assert body["total"] == 1
    facets = {f["name"]: {v["value"] for v in f["values"]} for f in hits(client, q="annuity")["facets"]}
    assert str(other.id) not in facets["study"]
    with app.test_client() as omar:
        assert login(omar, "omar").status_code == 302
        mine = omar.get("/api/v1/search", query_string={"q": "spaghetti"}).get_json()
        assert mine["total"] == 1 and mine["hits"][0]["study_id"] == other.id


def test_deleting_a_source_removes_its_text_from_the_index_files(app, client, corpus, stored_files):
    _study, urls = corpus
    live = getattr(search.backend(app), "index_dir", None)  # Whoosh's live directory
    before = live.stat().st_ino if live else None
    page = client.get(urls["login.txt"] + "/delete").get_data(as_text=True)
    response = client.post(urls["login.txt"] + "/delete", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    indexer.drain_all(app)
    assert hits(client, q="spaghetti")["total"] == 0
    # The index's files (Whoosh's directory, or PostgreSQL's tables) and the database's.
    for path in stored_files(wal=False):
        assert b"spaghetti" not in stored_bytes(path).lower(), path.name
    missing, extra = indexer.consistency(app)
    assert missing == set() and extra == set()
    if live:  # Whoosh purged the segment in place: no rebuild swapped in a new directory
        assert live.stat().st_ino == before


def test_a_whoosh_delete_rewrites_only_the_segment_that_held_it(tmp_path, monkeypatch):
    """Every delete rebuilt the whole Whoosh index from the database (20-40 minutes at 1,000,000
    passages, the deleted text searchable all along). A rebuild now writes segments of at most
    SEGMENT_DOCS documents, and a purge copies only the segment holding the removed document."""
    from research_repo.search import whoosh_backend

    monkeypatch.setattr(whoosh_backend, "SEGMENT_DOCS", 10)
    backend = whoosh_backend.WhooshBackend(tmp_path / "index")
    docs = [{"passage_id": i, "study": 1, "source_id": i // 10, "position": i % 10, "title": f"Ticket {i}",
             "kind": "ticket", "text": f"Ticket {i}: the annuity letter was late "
             + ("and Blorfington Street was on it, " if i == 13 else "") + "and the phone line was busy again."}
            for i in range(30)]
    with backend.writer_lock():
        backend.rebuild([docs[i:i + 10] for i in range(0, 30, 10)])

    def segment_files():
        return {p.name: stored_bytes(p) for p in backend.index_dir.iterdir() if p.suffix == ".seg"}

    with backend.writer_lock():  # a tag added to passage 25: its old version is deleted in its segment
        backend.apply([{**docs[25], "tag": ["interim pay"]}], [])
    before = segment_files()
    assert len(before) == 4  # the three, and the new version of 25
    [holder] = [name for name, content in before.items() if b"Blorfington Street" in content]
    with backend.writer_lock():
        backend.apply([], [13])
        backend.purge([13])
    after = segment_files()
    # Only the segment that held 13 was copied; the one with 25's old version waits.
    assert set(before) - set(after) == {holder}
    assert not any(b"Blorfington" in c or b"blorfington" in c for c in after.values())
    assert backend.passage_ids() == set(range(30)) - {13}


def test_byte_searches_read_whoosh_stored_text(tmp_path):
    """The positive control for every byte search of an index directory: Whoosh deflates the
    text it stores and keeps its words lower-cased, so the raw bytes of its files hold no
    "Blorfington Street"; the inflated ones do, and a search must read those."""
    from research_repo.search import whoosh_backend

    backend = whoosh_backend.WhooshBackend(tmp_path / "index")
    text = "She moved to Blorfington Street after the annuity letter finally came in the mail. " * 3
    with backend.writer_lock():
        backend.rebuild([[{"passage_id": 1, "study": 1, "source_id": 1, "position": 0,
                           "title": "Interview 1", "text": text, "kind": "interview"}]])
    files = [p for p in (tmp_path / "index").rglob("*") if p.is_file()]
    assert not any(b"Blorfington Street" in p.read_bytes() for p in files)
    assert any(b"Blorfington Street" in stored_bytes(p) for p in files)


def test_a_redaction_reaches_the_index(app, client, corpus, stored_files):
    _study, urls = corpus
    page = client.get(urls["login.txt"]).get_data(as_text=True)
    response = client.post(urls["login.txt"] + "/redact",
                           data={"csrf_token": csrf_token(page), "value": "Spaghetti", "kind": "PERSON"})
    assert response.status_code == 302
    indexer.drain_all(app)
    assert hits(client, q="spaghetti")["total"] == 0
    for path in stored_files(wal=False):
        assert b"spaghetti" not in stored_bytes(path).lower(), path.name


@pytest.mark.whoosh_only("damages or races Whoosh's own index files")
def test_missing_index_is_reported_then_rebuilt(app, client, corpus):
    shutil.rmtree(search.backend(app).index_dir)
    response = client.get("/search", query_string={"q": "annuity"})
    assert response.status_code == 503 and "Search is not available right now" in response.get_data(as_text=True)
    assert client.get("/api/v1/search", query_string={"q": "annuity"}).status_code == 503
    indexer.drain(app)  # the writer notices and rebuilds from the database
    assert hits(client, q="annuity")["total"] == 3


def test_a_dropped_postgres_index_is_reported_then_rebuilt(app, client, corpus, db):
    """The PostgreSQL back end's tables emptied and its built mark gone (a restore that left
    them out): searches say so, and the writer rebuilds from the database."""
    if app.config["SEARCH_BACKEND"] != "postgres":
        pytest.skip("the PostgreSQL search back end's own tables")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM search_state")
        conn.exec_driver_sql("DELETE FROM search_document")
    response = client.get("/search", query_string={"q": "annuity"})
    assert response.status_code == 503 and "Search is not available right now" in response.get_data(as_text=True)
    indexer.drain(app)
    assert hits(client, q="annuity")["total"] == 3


@pytest.mark.whoosh_only("damages or races Whoosh's own index files")
def test_corrupt_index_is_reported_then_rebuilt(app, client, corpus):
    index_dir = search.backend(app).index_dir
    for toc in index_dir.glob("*.toc"):
        toc.write_bytes(b"\x00garbage")
    assert client.get("/search", query_string={"q": "annuity"}).status_code == 503
    indexer.drain(app)
    assert hits(client, q="annuity")["total"] == 3


@pytest.mark.whoosh_only("damages or races Whoosh's own index files")
@pytest.mark.parametrize("damage", ["garbled segment", "deleted segment"])
def test_a_damaged_segment_is_reported_then_rebuilt_with_no_upload_needed(app, client, corpus, damage):
    """A corrupted segment answered 500 to every search for ever (230 of 230), a deleted one
    503 until some upload arrived. Now the search that meets the damage answers 503 saying the
    index is being rebuilt, and the writer rebuilds it on its next poll, nothing else needed."""
    index_dir = search.backend(app).index_dir
    segments = [p for p in index_dir.iterdir() if p.suffix == ".seg"]
    assert segments
    for seg in segments:
        if damage == "deleted segment":
            seg.unlink()
        else:
            size = seg.stat().st_size
            seg.write_bytes(b"\xff" * size)
    response = client.get("/search", query_string={"q": "annuity"})
    assert response.status_code == 503, response.status_code
    assert "being rebuilt" in response.get_data(as_text=True)
    assert indexer.pending(app) == 0  # no upload is waiting to trigger anything
    assert indexer.drain(app) > 0  # the writer's next poll rebuilds
    assert hits(client, q="annuity")["total"] == 3
    assert not search.backend(app).damaged_path.exists()


@pytest.mark.whoosh_only("races Whoosh's own index files")
def test_a_damage_mark_made_as_a_rebuild_goes_live_is_kept(tmp_path, monkeypatch):
    """The crash test once marked the index damaged the instant the first build went live, and
    the build then erased the mark (it cleared it after the swap): no rebuild followed. A mark
    made once the new index is live now stays, for the writer's next poll."""
    from research_repo.search import whoosh_backend

    backend = whoosh_backend.WhooshBackend(tmp_path / "index")
    real_replace = whoosh_backend.os.replace

    def replace_then_mark(src, dst):
        real_replace(src, dst)
        if Path(dst) == backend.index_dir:  # live now: a reader finds it damaged at once
            backend.mark_damaged("a reader of the new index")

    monkeypatch.setattr(whoosh_backend.os, "replace", replace_then_mark)
    doc = {"passage_id": 1, "study": 1, "source_id": 1, "position": 0, "title": "Interview 1",
           "text": "interim annuity pay", "kind": "interview"}
    with backend.writer_lock():
        backend.rebuild([[doc]])
    assert backend.damaged_path.exists()
    assert not backend.exists()  # so the writer rebuilds it


def test_results_say_when_the_index_is_behind(app, client, corpus, db):
    """A writer that cannot keep up (a full disk) left search answering 200 from a stale index
    with no warning. Changes waiting over a minute are now said on the results page."""
    from datetime import timedelta

    from sqlalchemy import update

    from research_repo.models import IndexOutbox
    from research_repo.models._types import utcnow

    study, _ = corpus
    page = client.get("/search", query_string={"q": "annuity"}).get_data(as_text=True)
    assert "not searchable yet" not in page
    upload(client, study.id, "late.txt", "A late annuity letter, and another one about the annuity.")
    with db.writing() as s:
        s.execute(update(IndexOutbox).values(created_at=utcnow() - timedelta(minutes=5)))
    page = client.get("/search", query_string={"q": "annuity"}).get_data(as_text=True)
    assert "Results may be missing recent changes: 1 change made more than a minute ago is not searchable yet" in page
    indexer.drain_all(app)
    assert "not searchable yet" not in client.get("/search", query_string={"q": "annuity"}).get_data(as_text=True)


def test_filters_see_passages_added_after_a_search(app, client, corpus):
    """Filters are cached per index version: a filtered search, an upload, the same search."""
    study, _ = corpus
    assert hits(client, q="annuity", speaker="P1")["total"] == 2
    assert hits(client, q="", speaker="P1")["total"] == 2
    upload(client, study.id, "more.txt", "Moderator: Anything else?\nP1: The survivor annuity letter never came.\n")
    indexer.drain_all(app)
    assert hits(client, q="annuity", speaker="P1")["total"] == 3
    assert hits(client, q="", speaker="P1")["total"] == 3
    assert hits(client, q="annuity", speaker="P2")["total"] == 0


@pytest.mark.parametrize("procs", ["1", "2"])
def test_reindex_and_search_commands(app, client, corpus, procs):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reindex", "--procs", procs])
    assert result.exit_code == 0, result.output
    assert "Indexed 9 passages" in result.output and "0 passages missing from the index, 0 in the index" in result.output
    assert hits(client, q="annuity", speaker="P1")["total"] == 2
    result = runner.invoke(args=["search", "interim annuity", "--study", "Annuitant interviews"])
    assert result.exit_code == 0 and result.output.startswith("1 passages.")
    assert "P1: The interim annuity payments started late" in result.output
    result = runner.invoke(args=["search", "annuity", "--json"])
    assert '"total": 3' in result.output


def test_more_like_this(client, corpus):
    body = hits(client, q='"interim annuity"')
    hit = body["hits"][0]
    page = client.get(f"/studies/{hit['study_id']}/passages/{hit['passage_id']}/similar")
    assert page.status_code == 200
    assert "annuit" in page.get_data(as_text=True).lower()


def test_saved_searches(app, client, corpus, db):
    from sqlalchemy import select

    from research_repo.models import AuditEvent, SavedSearch

    page = client.get("/search", query_string={"q": "annuity", "speaker": "P1"}).get_data(as_text=True)
    assert "Save this search as" in page
    token = csrf_token(page)
    saved = client.post("/searches", data={"csrf_token": token, "name": "Annuity, participants",
                                           "q": "annuity", "speaker": "P1"})
    assert saved.status_code == 302 and "speaker=P1" in saved.headers["Location"]
    listing = client.get("/api/v1/searches").get_json()["searches"]
    assert [(s["name"], s["params"]) for s in listing] == [("Annuity, participants", {"q": "annuity", "speaker": ["P1"]})]
    assert hits(client, **listing[0]["params"])["total"] == 2
    assert "Annuity, participants" in client.get("/search").get_data(as_text=True)
    # A query with a name or an email in it is refused, and the value is not stored or echoed.
    refused = client.post("/searches", data={"csrf_token": token, "name": "Calls",
                                             "q": "maria.alvarez@example.com Maria Alvarez"})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "looks like it contains an identifier" in body and "maria.alvarez" not in body
    duplicate = client.post("/searches", data={"csrf_token": token, "name": "Annuity, participants", "q": "x"})
    assert duplicate.status_code == 409
    with db.read_session() as s:
        rows = s.scalars(select(SavedSearch)).all()
        assert len(rows) == 1 and "alvarez" not in str(rows[0].params).lower()
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "search.save")).details == {}
    deleted = client.post(f"/searches/{listing[0]['id']}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    assert client.get("/api/v1/searches").get_json()["searches"] == []


def test_saved_searches_are_private(app, client, corpus, make_user):
    page = client.get("/search", query_string={"q": "annuity"}).get_data(as_text=True)
    client.post("/searches", data={"csrf_token": csrf_token(page), "name": "Mine", "q": "annuity"})
    mine = client.get("/api/v1/searches").get_json()["searches"][0]
    make_user("otto", Role.RESEARCHER)
    with app.test_client() as otto:
        assert login(otto, "otto").status_code == 302
        assert otto.get("/api/v1/searches").get_json()["searches"] == []
        other_page = otto.get("/search").get_data(as_text=True)
        response = otto.post(f"/searches/{mine['id']}/delete", data={"csrf_token": csrf_token(other_page)})
        assert response.status_code == 404
    assert len(client.get("/api/v1/searches").get_json()["searches"]) == 1


@pytest.mark.whoosh_only("damages or races Whoosh's own index files")
def test_a_search_racing_a_commit_opens_the_index_again(app, client, corpus, monkeypatch):
    from research_repo.search import whoosh_backend

    real_open = whoosh_backend.FileStorage.open_index
    calls = {"n": 0}

    def flaky_open(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:  # as if a merge had just deleted the generation's segment files
            raise FileNotFoundError("segment gone")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(whoosh_backend.FileStorage, "open_index", flaky_open)
    assert hits(client, q="annuity")["total"] == 3
    assert calls["n"] == 2


REINDEX_SLOWLY = """
import sys, time
from research_repo import create_app
from research_repo.search import indexer

from whoosh import multiproc

app = create_app({"ENVIRONMENT": "test", "SECRET_KEY": "x" * 40, "DATA_DIR": sys.argv[1], "DATABASE_URL": sys.argv[2]})
real = indexer.all_documents
# Hand each passage to the analysers at once (they start with their first batch), slowly.
whole_batches = multiproc.MpWriter.__init__
multiproc.MpWriter.__init__ = lambda self, ix, procs=None, batchsize=100, *a, **kw: whole_batches(
    self, ix, procs, 1, *a, **kw)

def one_at_a_time(session, batch=2000):
    for docs in real(session, batch=1):
        yield docs
        print("batch", flush=True)
        time.sleep(0.5)

indexer.all_documents = one_at_a_time
with app.app_context():
    indexer.rebuild(app, procs=2)
"""


@pytest.mark.whoosh_only("damages or races Whoosh's own index files")
def test_a_killed_parallel_reindex_leaves_no_process_holding_the_writer_lock(app, corpus, tmp_path):
    """A killed `reindex --procs N` left N analysers running with the writer lock, and the
    index stopped taking changes. Its children now die with it, and the lock goes with them."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    engine = search.backend(app)
    parent = subprocess.Popen([sys.executable, "-c", REINDEX_SLOWLY, app.config["DATA_DIR"], app.config["DATABASE_URL"]],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for _ in range(3):  # the rebuild is under way, with its analysers started
            assert parent.stdout.readline().strip() == "batch"
        children = {int(pid) for task in Path(f"/proc/{parent.pid}/task").iterdir()
                    for pid in (task / "children").read_text().split()}
        assert len(children) >= 2, children
        with engine.writer_lock(blocking=False) as locked:
            assert not locked  # held by the reindex
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        parent.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") and
                                              "zombie" not in Path(f"/proc/{pid}/status").read_text()
                                              for pid in children):
        time.sleep(0.1)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}")
             and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    assert not alive, f"analysers still running: {alive}"
    with engine.writer_lock(blocking=False) as locked:
        assert locked
    indexer.drain(app)  # and the index is whole again
    assert hits_total(app) == 3


def hits_total(app) -> int:
    from research_repo.search import SearchQuery

    with app.app_context():
        return search.backend(app).search(SearchQuery(text="annuity"), search_study_ids(app)).total


def search_study_ids(app) -> list[int]:
    from research_repo.extensions import get_db
    from research_repo.models import Study

    with get_db(app).read_session() as s:
        return [sid for (sid,) in s.query(Study.id).all()]


def test_an_upload_is_indexed_before_the_rest_of_a_bulk_import(app, client, corpus, db):
    """An upload made during a 20,000-row import waited up to 170 s (p95) to become
    searchable, behind the import's index updates. The writer now takes what people are
    waiting for first, and bulk work in small batches after it."""
    from sqlalchemy import func, select

    from research_repo import jobs
    from research_repo.models import IndexOutbox

    from .ingest_files import tickets_csv

    study, _ = corpus
    page = client.get(f"/studies/{study.id}/upload")
    client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "files": [(io.BytesIO(tickets_csv(40)), "tickets.csv")]}, content_type="multipart/form-data")
    jobs.wait_background(app, timeout=60)

    def waiting(bulk: bool) -> int:
        with db.read_session() as s:
            return s.scalar(select(func.count()).select_from(IndexOutbox).where(IndexOutbox.bulk.is_(bulk)))

    assert waiting(True) >= 40 and waiting(False) == 0  # the import's rows, not yet indexed
    upload(client, study.id, "urgent.txt", "The quokka form was rejected twice this week.")
    assert indexer.drain(app, bulk_batch=10) == 1  # the upload's one passage, first
    assert hits(client, q="quokka")["total"] == 1
    assert waiting(True) >= 40
    before = waiting(True)
    assert indexer.drain(app, bulk_batch=10) == 10 and waiting(True) == before - 10  # then bulk, in small batches
    indexer.drain_all(app)
    assert waiting(True) == 0


def test_bulk_batches_are_sized_by_time_not_rows(app, corpus, db):
    """An upload during an import waits for the bulk batch in hand: on a busy machine a fixed
    500 rows took seconds. The writer sizes the next bulk batch from the last one's rate."""
    stats: dict = {}
    assert indexer.drain(app, stats=stats) >= 0 and not stats.get("bulk")  # nothing bulk waiting
    # 500 rows in 4 s (a loaded machine): the next batch halves toward the 62 rows of 0.5 s.
    assert indexer.next_bulk_batch(500, 500, 4.0) == 281
    sizes = [500]
    for _ in range(6):
        sizes.append(indexer.next_bulk_batch(sizes[-1], sizes[-1], sizes[-1] / 125))  # 125 rows/s
    assert sizes[-1] <= 70 and sizes == sorted(sizes, reverse=True)
    # An idle machine grows it again, to at most 2,000; never below 50.
    assert indexer.next_bulk_batch(62, 62, 0.01) == 1581 and indexer.next_bulk_batch(1581, 1581, 0.01) == 2000
    assert indexer.next_bulk_batch(50, 50, 60.0) == 50


def test_two_hosts_on_one_database_see_the_same_results(app, client, corpus, database_url, tmp_path):
    """Two app processes with data directories of their own (two hosts) on one PostgreSQL
    database: what one host's index writer drained, the other host finds, with nothing left for
    its own writer. With Whoosh's per-host index the second host found nothing."""
    import subprocess
    import sys

    if not database_url or app.config["SEARCH_BACKEND"] != "postgres":
        pytest.skip("two hosts share an index only with SEARCH_BACKEND=postgres on PostgreSQL")
    assert indexer.pending(app) == 0 and hits(client, q="interim annuity")["total"] == 1
    other_host = tmp_path / "other-host"
    other_host.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEARCH_REPO_")}
    env.update(RESEARCH_REPO_DATA_DIR=str(other_host), RESEARCH_REPO_DATABASE_URL=database_url,
               RESEARCH_REPO_SEARCH_BACKEND="postgres", RESEARCH_REPO_ENVIRONMENT="test",
               RESEARCH_REPO_SECRET_KEY=app.config["SECRET_KEY"])
    found = subprocess.run([sys.executable, "-m", "research_repo.cli", "search", "interim annuity"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("1 passages.") and "interim annuity payments started late" in found.stdout
    assert not (other_host / "index").exists()  # no index of its own was needed
