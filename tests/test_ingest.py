"""Ingest end to end: uploads and imports through the real readers, de-identifier, database
and web pages; planted identifiers are searched for byte by byte afterwards."""
from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from research_repo import jobs
from research_repo.models import (
    AuditEvent,
    ImportRejection,
    ImportRun,
    ImportStatus,
    IndexOutbox,
    Job,
    JobStatus,
    Passage,
    Role,
    Source,
)

from .helpers import TEST_SECRET, csrf_token, stored_bytes
from .ingest_files import PLANTED, TRANSCRIPT, docx_bytes, tickets_csv, zip_bomb_docx

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def study(signed_in, make_study):
    user = signed_in("rita", Role.RESEARCHER)
    return make_study("Retirement interviews", user)


def upload(client, study_id, files, **fields):
    page = client.get(f"/studies/{study_id}/upload")
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), **fields,
            "files": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(f"/studies/{study_id}/upload", data=data, content_type="multipart/form-data")


def planted_bytes() -> list[bytes]:
    values = set(PLANTED.values())
    return sorted({v.encode() for v in values} | {v.lower().encode() for v in values}
                  | {v.encode("utf-16-le") for v in values})


def assert_nothing_planted_in(files: list[Path], extra: str = "") -> None:
    assert files, "nothing to search"
    for path in files:
        content = stored_bytes(path)
        for value in planted_bytes():
            assert value not in content, f"{value!r} found in {path.name}"
    for value in PLANTED.values():
        assert value.lower() not in extra.lower(), f"{value!r} found in logs or output"


def test_transcript_upload_is_deidentified_with_roles_and_offsets(client, db, study):
    response = upload(client, study.id, [("maria_alvarez_interview.txt", TRANSCRIPT.encode())], kind="interview")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for value in PLANTED.values():
        assert value not in page
    assert "MODERATOR" in page and "P1" in page and 'class="rr-redaction">[PERSON_1]' in page
    with db.read_session() as s:
        source = s.scalars(select(Source)).one()
        passages = s.scalars(select(Passage).where(Passage.source_id == source.id).order_by(Passage.position)).all()
        assert [p.speaker_role for p in passages] == [None, "MODERATOR", "P1", "MODERATOR", "P1"]
        assert all(source.text[p.start_offset:p.end_offset] == p.text for p in passages)
        assert "[CLAIM_1]" in passages[2].text and "[SSN_1]" in passages[2].text
        assert "[PERSON_1] is my married name" in passages[4].text
        assert source.redaction_summary["counts"]["PERSON"] >= 2
        assert source.title == "Interview 1"
        outbox = s.scalars(select(IndexOutbox.passage_id)).all()
        assert sorted(outbox) == sorted(p.id for p in passages)
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "source.create")).one()
        assert event.details["passages"] == 5


def test_same_file_again_changes_nothing(client, db, study):
    files = [("notes.txt", TRANSCRIPT.encode())]
    assert upload(client, study.id, files).status_code == 302
    again = upload(client, study.id, files)
    assert again.status_code == 302
    assert "Already in this study" in client.get(again.headers["Location"]).get_data(as_text=True)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 1


def test_an_upload_is_read_and_de_identified_without_holding_the_write_lock(client, db, study, monkeypatch):
    """One 1 MB transcript held SQLite's write lock for 144 s while it was parsed and
    de-identified, and other uploads and sign-ins failed with "database is locked". While an
    upload does that work now, another writer takes the lock at once (no waiting at all)."""
    from research_repo.services.ingest import documents, imports

    from .helpers import try_write_lock

    tried = []

    def another_writer() -> None:
        tried.append("took the lock" if try_write_lock(db) else "the write lock is held")

    def deidentify_watched(*args, **kwargs):
        another_writer()
        return real_deidentify(*args, **kwargs)

    def read_watched(*args, **kwargs):
        another_writer()
        return real_read(*args, **kwargs)

    real_deidentify, real_read = documents.deidentified_passages, imports.read_table
    monkeypatch.setattr(documents, "deidentified_passages", deidentify_watched)
    monkeypatch.setattr(imports, "read_table", read_watched)
    response = upload(client, study.id, [("interview.txt", TRANSCRIPT.encode()), ("tickets.csv", tickets_csv(5))])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert tried == ["took the lock", "took the lock"]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source).where(Source.import_id.is_(None))) == 1
        assert s.scalar(select(func.count()).select_from(ImportRun)) == 1


def test_an_imports_records_are_de_identified_in_a_child_process(app, client, db, study, monkeypatch):
    """So a large import does not compete with searches and uploads for the server's own
    interpreter: here de-identifying a record in the server's process fails the import."""
    import os

    from research_repo.services.ingest import imports

    server, real = os.getpid(), imports.prepare

    def only_in_a_child(*args, **kwargs):
        if os.getpid() == server:
            raise AssertionError("de-identified in the server process")
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "prepare", only_in_a_child)
    response = upload(client, study.id, [("tickets.csv", tickets_csv(12, planted_every=2))])
    jobs.wait_background(app, timeout=60)
    status = client.get(response.headers["Location"] + "/status").get_json()
    assert (status["status"], status["stored"]) == ("done", 12)
    with db.read_session() as s:
        texts = [src.text for src in s.scalars(select(Source))]
    assert len(texts) == 12 and not any("Maria" in t for t in texts)


def test_docx_upload(client, db, study):
    data = docx_bytes(["Interviewer: What happened?", f"{PLANTED['name']}: My email is {PLANTED['email']}."])
    assert upload(client, study.id, [("notes.docx", data)]).status_code == 302
    with db.read_session() as s:
        source = s.scalars(select(Source)).one()
        assert source.format == "docx"
        assert source.text == "MODERATOR: What happened?\n\nP1: My email is [EMAIL_1]."


def test_bad_files_get_4xx_naming_the_file_and_good_ones_are_kept(client, db, study):
    response = upload(client, study.id, [
        ("good.txt", b"The interim annuity letter arrived after four months."),
        ("bomb.docx", zip_bomb_docx()),
        ("call.vtt", b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\nbroken cue\n"),
        ("empty.txt", b""),
    ])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "bomb.docx</strong>: Not stored." in page and "zip bomb" in page
    assert "call.vtt</strong>: Not stored." in page and "line 6: expected a cue timing line" in page
    assert "empty.txt</strong>: Not stored." in page and "is empty" in page
    assert "good.txt</strong>: Stored." in page
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 1
        assert s.scalar(select(func.count()).select_from(Passage)) == 1


def test_hostile_file_name_is_neither_echoed_nor_executed(client, db, study):
    name = f"../../<script>alert(1)</script> {PLANTED['name']}.vtt"
    response = upload(client, study.id, [(name, b"not a caption file")])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<script>alert" not in page and PLANTED["name"] not in page and "Alvarez" not in page
    assert "must start with WEBVTT" in page


def test_oversize_upload_is_refused(app, client, study):
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = upload(client, study.id, [("big.txt", b"word " * 20_000)])
    assert response.status_code == 413


def test_uploads_never_touch_a_temp_file(client, db, study, monkeypatch):
    import tempfile

    import werkzeug.formparser

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    for module, attribute in [(tempfile, "SpooledTemporaryFile"), (tempfile, "TemporaryFile"),
                              (tempfile, "NamedTemporaryFile"), (tempfile, "mkstemp"),
                              (werkzeug.formparser, "SpooledTemporaryFile")]:
        monkeypatch.setattr(module, attribute, refuse, raising=False)
    big = "The interim annuity letter was late again. " * 14_000  # well over Werkzeug's 500 KB spooling threshold
    assert len(big) > 600_000
    page = client.get(f"/studies/{study.id}/upload").get_data(as_text=True)
    # Encoded here in memory: the test client would otherwise spool the request body itself.
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    boundary, body = encode_multipart(MultiDict([
        ("csrf_token", csrf_token(page)), ("files", FileStorage(io.BytesIO(big.encode()), "long.txt"))]))
    response = client.post(f"/studies/{study.id}/upload", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 302


def test_viewer_cannot_upload(client, make_user, make_study, signed_in):
    owner = make_user("olga", Role.RESEARCHER)
    viewer = signed_in("vera", Role.VIEWER)
    study = make_study("Viewed", owner, members={viewer.username: Role.VIEWER})
    assert client.get(f"/studies/{study.id}").status_code == 200
    assert client.get(f"/studies/{study.id}/upload").status_code == 403


def test_export_upload_imports_in_the_background_and_reconciles(app, client, db, study):
    data = tickets_csv(30, planted_every=3) + b'31,Broken,"never closed,2024-03-01,phone,x,1\n'
    response = upload(client, study.id, [("tickets.csv", data)])
    assert response.status_code == 302 and "/imports/" in response.headers["Location"]
    jobs.wait_background(app, timeout=60)
    status = client.get(response.headers["Location"] + "/status").get_json()
    assert status == {"id": status["id"], "status": "done", "total": 31, "read": 31, "stored": 30, "rejected": 1}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Requester, Requester email" in page  # shown as not stored
    csv_text = client.get(response.headers["Location"] + "/rejections.csv").get_data(as_text=True)
    assert csv_text.splitlines()[0] == "record,where,reason" and "line 32" in csv_text
    with db.read_session() as s:
        source = s.scalars(select(Source).where(Source.record_number == 3)).one()
        assert source.text.startswith("Payment 3\n\nThis is [PERSON_1]. My claim [CLAIM_1] is stuck")
        assert source.channel == "phone" and source.collected_on.isoformat() == "2024-03-04"
        assert source.attributes["service"] == "Retirement Services" and source.attributes["csat"] == 4
        job = s.scalars(select(Job).where(Job.kind == "import")).one()
        assert job.status is JobStatus.DONE and job.payload == {"import_id": status["id"]}
    # The same file again is a no-op.
    again = upload(client, study.id, [("tickets.csv", data)])
    assert again.status_code == 302
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(ImportRun)) == 1
        assert s.scalar(select(func.count()).select_from(Source)) == 30


def test_planted_identifiers_reach_no_file_log_or_job(app, client, db, study, data_dir, stored_files, caplog):
    caplog.set_level(logging.DEBUG)
    assert upload(client, study.id, [("interview.txt", TRANSCRIPT.encode())]).status_code == 302
    assert upload(client, study.id, [("notes.docx", docx_bytes(TRANSCRIPT.split("\n")))]).status_code == 302
    assert upload(client, study.id, [("tickets.csv", tickets_csv(200, planted_every=2))]).status_code == 302
    jobs.wait_background(app, timeout=120)
    runner = app.test_cli_runner()
    export = data_dir.parent / "export.jsonl"
    export.write_text("\n".join(
        f'{{"id": {i}, "comment": "{PLANTED["name"]} ({PLANTED["email"]}) says the wait was long", '
        f'"email": "{PLANTED["email"]}"}}' for i in range(50)))
    result = runner.invoke(args=["import", "--study", study.name, "--by", "rita", "--kind", "survey",
                                 "--no-progress", str(export)])
    assert result.exit_code == 0, result.output
    # Survey ids 0-49 are not the ticket export's ids 1-200 (an id's key holds the kind and column).
    assert "read 50 = stored 50 + rejected 0" in result.output
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Passage)) > 100
    db.dispose()
    files = stored_files()
    # The search reads where the data really is: the stored passages' own words are found there.
    assert any(b"mailed it in March" in stored_bytes(p) for p in files)
    assert_nothing_planted_in(files, caplog.text + result.output.replace(str(export), ""))


def test_redacting_a_missed_identifier_updates_text_offsets_and_leaves_no_trace(app, client, db, study, stored_files):
    # A nickname written in lower case, in text that capitalizes its sentences: the engine
    # takes it for the ordinary word and leaves it; the researcher redacts it by hand.
    note = "P1 said the caseworker everyone calls cookie fixed it.\n\nLater cookie called back about Cookie forms."
    response = upload(client, study.id, [("note.txt", note.encode())], kind="usability")
    assert response.status_code == 302
    source_url = response.headers["Location"]
    page = client.get(source_url).get_data(as_text=True)
    assert "calls cookie fixed" in page  # the engine missed it
    form = {"csrf_token": csrf_token(page), "value": "cookie", "kind": "PERSON"}
    done = client.post(source_url + "/redact", data=form)
    assert done.status_code == 302
    page = client.get(source_url).get_data(as_text=True)
    assert "Redacted 3 occurrences" in page and "ookie" not in page
    with db.read_session() as s:
        source = s.scalars(select(Source)).one()
        passages = s.scalars(select(Passage).where(Passage.source_id == source.id).order_by(Passage.position)).all()
        assert all(source.text[p.start_offset:p.end_offset] == p.text for p in passages)
        assert "[PERSON_1] fixed it" in passages[0].text
        assert source.redaction_summary["manual"] == 3
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "source.redact")).one()
        assert event.details == {"kind": "PERSON", "occurrences": 3, "passages": 2}
        # 2 upserts at upload; then for the 2 changed passages a delete (purge) and an upsert.
        assert s.scalar(select(func.count()).select_from(IndexOutbox)) == 6
    db.dispose()
    # The database files (on PostgreSQL, the server's, after the VACUUM a redaction runs); not
    # PostgreSQL's write-ahead log, which keeps the value stored before the redaction (README).
    for path in stored_files(wal=False):
        assert b"ookie" not in stored_bytes(path), path.name


def test_redaction_of_text_not_in_the_source_is_a_400(client, study):
    response = upload(client, study.id, [("note.txt", b"The letter was late.")])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    bad = client.post(response.headers["Location"] + "/redact",
                      data={"csrf_token": csrf_token(page), "value": "Zanzibar Q", "kind": "PERSON"})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "does not appear in this source" in text and "Zanzibar" not in text


def _cli(data_dir: Path, *args: str, database_url: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "RESEARCH_REPO_DATA_DIR": str(data_dir), "RESEARCH_REPO_SECRET_KEY": TEST_SECRET,
           "RESEARCH_REPO_ENVIRONMENT": "test", "RESEARCH_REPO_IMPORT_CHUNK_SIZE": "100"}
    if database_url:
        env["RESEARCH_REPO_DATABASE_URL"] = database_url
    return subprocess.Popen([sys.executable, "-m", "research_repo.cli", *args], cwd=PROJECT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_kill_9_mid_import_then_run_again_loses_and_duplicates_nothing(data_dir, db, database_url, make_user,
                                                                      make_study, tmp_path):
    owner = make_user("ines", Role.RESEARCHER)
    make_study("Tickets", owner)
    export = tmp_path / "tickets.csv"
    export.write_bytes(tickets_csv(3000, planted_every=10))

    def progress() -> tuple[int, str] | None:
        with db.engine.connect() as con:
            return con.exec_driver_sql("SELECT records_read, status FROM import_run").fetchone()

    args = ("import", "--study", "Tickets", "--by", "ines", "--no-progress", str(export))
    first = _cli(data_dir, *args, database_url=database_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = progress()
        if row and 0 < row[0] < 2500:
            break
        assert first.poll() is None, first.stdout.read()
        time.sleep(0.05)
    else:
        pytest.fail("the import never made progress")
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()
    read_at_kill, status = progress()
    assert status == "running" and read_at_kill < 3000  # died without a chance to record anything

    second = _cli(data_dir, *args, database_url=database_url)
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    assert f"resuming import 1 at record {read_at_kill + 1}" in output
    assert "read 3000 = stored 3000 + rejected 0" in output
    with db.engine.connect() as con:
        sql = con.exec_driver_sql
        assert sql("SELECT count(*), count(DISTINCT record_number) FROM source").fetchone() == (3000, 3000)
        assert sql("SELECT min(record_number), max(record_number) FROM source").fetchone() == (1, 3000)
        assert sql("SELECT status, records_read, records_stored FROM import_run").fetchone() == ("done", 3000, 3000)
        assert sql("SELECT count(*) FROM passage").fetchone()[0] == sql(
            "SELECT count(*) FROM index_outbox").fetchone()[0]
        jobs_rows = sql("SELECT status FROM job WHERE kind = 'import' ORDER BY id").fetchall()
        # The killed run's job row no longer says "running" (20 such rows stayed after CLI kills).
        assert jobs_rows == [("failed",), ("done",)]
    third = _cli(data_dir, *args, database_url=database_url)
    output, _ = third.communicate(timeout=120)
    assert "already imported (import 1)" in output and "nothing changed" in output


def test_interrupted_imports_are_marked_at_startup(db, make_user, make_study):
    from research_repo.services import ingest

    owner = make_user("ivan", Role.RESEARCHER)
    study = make_study("Marks", owner)
    with db.writing() as s:
        s.add(ImportRun(study_id=study.id, kind=study_kind(), format="csv", content_key="k" * 64,
                        status=ImportStatus.RUNNING, records_total=10, records_read=0, records_stored=0,
                        records_rejected=0, mapping={}, stats={}, owner="elsewhere:1"))
    with db.writing() as s:
        assert ingest.mark_interrupted(s) == 1
    with db.read_session() as s:
        assert s.scalars(select(ImportRun)).one().status is ImportStatus.INTERRUPTED
        assert s.scalar(select(func.count()).select_from(ImportRejection)) == 0


def study_kind():
    from research_repo.models import SourceKind

    return SourceKind.TICKET


def test_categorical_metadata_keeps_its_words_and_a_rare_value_is_deidentified(app, client, db, study):
    """A channel many tickets share ("voice", "good") is a category, not a name (it was stored
    as [PERSON_1] for a quarter of the tickets); a value only one ticket has is de-identified
    like free text, and a shaped identifier in a category is still redacted."""
    rows = ["ticket_id,channel,segment,description"]
    channels = ["voice"] * 8 + ["good"] * 5 + ["helpdesk"] * 4 + ["Maria Alvarez"] + ["maria.alvarez@example.com"] * 3
    for i, channel in enumerate(channels):
        rows.append(f'{i},{channel},new retiree,"The interim payment was late, ticket {i}."')
    response = upload(client, study.id, [("tickets.csv", ("\n".join(rows) + "\n").encode())], kind="ticket")
    assert response.status_code == 302, response.get_data(as_text=True)
    jobs.wait_background(app, timeout=60)
    with db.read_session() as s:
        stored = [src.channel for src in s.scalars(select(Source).order_by(Source.record_number))]
        segments = {src.segment for src in s.scalars(select(Source))}
    assert stored[:17] == channels[:17]
    assert stored[17] == "[PERSON_1]" and stored[18:] == ["[EMAIL_1]"] * 3
    assert segments == {"new retiree"}


def test_a_speaker_role_can_be_corrected_and_everything_follows(app, client, db, study):
    """Names as speaker labels become P1, P2; the researcher says P1 is the moderator: the
    stored text, the passages, a highlight on the other speaker, the search facet and the
    theme scope all follow, and the change is audited."""
    from research_repo.models import AuditEvent, Highlight
    from research_repo.services import themes

    from .helpers import settle

    text = ("Alex Rivera: Tell me about the first payment.\nMaria Lopez: It took four months to arrive.\n"
            "Alex Rivera: And the letter?\nMaria Lopez: The letter never came, and nobody called me back.\n")
    assert upload(client, study.id, [("interview.txt", text.encode())], kind="interview").status_code == 302
    with db.read_session() as s:
        source = s.scalars(select(Source)).one()
        roles = [p.speaker_role for p in sorted(source.passages, key=lambda p: p.position)]
        target = next(p for p in source.passages if "never came" in p.text)
    assert roles == ["P1", "P2", "P1", "P2"]
    page = client.get(f"/studies/{study.id}/sources/{source.id}")
    quote = "nobody called me back"
    client.post(f"/studies/{study.id}/passages/{target.id}", data={
        "csrf_token": csrf_token(client.get(f"/studies/{study.id}/passages/{target.id}").get_data(as_text=True)),
        "quote": quote, "memo": "Follow up."})
    response = client.post(f"/studies/{study.id}/sources/{source.id}/speakers", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "speaker": "P1", "role": "MODERATOR"})
    assert response.status_code == 302
    settle(app)
    with db.read_session() as s:
        source = s.get(Source, source.id)
        passages = sorted(source.passages, key=lambda p: p.position)
        assert [p.speaker_role for p in passages] == ["MODERATOR", "P2", "MODERATOR", "P2"]
        assert all(source.text[p.start_offset:p.end_offset] == p.text for p in passages)
        assert source.text.startswith("MODERATOR: Tell me") and "P1:" not in source.text
        h = s.scalars(select(Highlight)).one()
        assert source.text[h.start_offset:h.end_offset] == quote
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "source.speaker_role")).one()
        scoped = themes.scope_passages(s, study.id, themes.RunScope())
        assert set(scoped) == {p.id for p in passages if p.speaker_role == "P2"}
    assert event.details == {"old": "P1", "new": "MODERATOR", "passages": 2}
    facets = client.get("/api/v1/search", query_string={"q": "letter"}).get_json()["facets"]
    speakers = {v["value"] for f in facets if f["name"] == "speaker" for v in f["values"]}
    assert speakers == {"MODERATOR", "P2"}
    # Back to a participant: the next free P number; a role that is not one is refused.
    page = client.get(f"/studies/{study.id}/sources/{source.id}")
    assert client.post(f"/studies/{study.id}/sources/{source.id}/speakers", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "speaker": "MODERATOR", "role": "PARTICIPANT"}
    ).status_code == 302
    refused = client.post(f"/studies/{study.id}/sources/{source.id}/speakers", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "speaker": "P2", "role": "CEO"})
    assert "moderator, the note-taker or a participant" in client.get(refused.headers["Location"]).get_data(as_text=True)
    with db.read_session() as s:
        assert {p.speaker_role for p in s.get(Source, source.id).passages} == {"P1", "P2"}


def test_a_hand_redaction_can_cover_every_source_of_the_study(app, client, db, study, stored_files):
    """A nickname the engine misses in three notes is redacted in all of them at once; a
    source without it is untouched; the text leaves the database files and the index."""
    from .helpers import settle

    notes = ["P1 said the caseworker everyone calls cookie fixed it.",
             "Later cookie called back about the forms.",
             "The form was lost; nobody called back.",
             "cookie says the letter is in the mail."]
    urls = []
    for n, note in enumerate(notes):
        response = upload(client, study.id, [(f"note-{n}.txt", note.encode())], kind="usability")
        assert response.status_code == 302
        urls.append(response.headers["Location"])
    settle(app)
    assert "cookie" in client.get(urls[3]).get_data(as_text=True)
    page = client.get(urls[0]).get_data(as_text=True)
    done = client.post(urls[0] + "/redact", data={"csrf_token": csrf_token(page), "value": "cookie",
                                                   "kind": "PERSON", "everywhere": "y"})
    assert done.status_code == 302
    assert "Redacted 3 occurrences in 3 sources of this study" in client.get(done.headers["Location"]).get_data(
        as_text=True)
    settle(app)
    with db.read_session() as s:
        texts = [src.text for src in s.scalars(select(Source).order_by(Source.id))]
    assert [("cookie" in t.lower(), "[PERSON_1]" in t) for t in texts] == [
        (False, True), (False, True), (False, False), (False, True)]
    assert client.get("/api/v1/search", query_string={"q": "cookie"}).get_json()["total"] == 0
    db.dispose()
    for path in stored_files(wal=False):
        assert b"ookie" not in stored_bytes(path), path.name


def test_a_preview_stores_nothing_and_the_reviewers_decisions_are_applied(app, client, db, study, stored_files):
    """Preview: the proposed replacements are shown (least sure first) and nothing is stored
    anywhere. Store: a rejected proposal keeps its words, an added value is replaced, a term
    marked "never redact" joins the study's list; a changed file is refused."""
    import re

    from research_repo.models import StudyTerm

    note = ("Moderator: Tell me about the letter.\nP1: Maria Alvarez at 202-555-0143 said Grace period rules "
            "changed. My neighbor cookie helped.\n")
    page = client.get(f"/studies/{study.id}/upload")
    shown = client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview", "action": "preview",
        "files": [(io.BytesIO(note.encode()), "call.txt")]}, content_type="multipart/form-data")
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Nothing is stored yet" in html
    assert "Maria Alvarez</mark>" in html and "202-555-0143</mark>" in html and "Grace</mark>" in html
    assert shown.headers["Cache-Control"].startswith("no-store")
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 0
        assert s.scalar(select(func.count()).select_from(IndexOutbox)) == 0
    db.dispose()
    for path in stored_files():
        assert b"Alvarez" not in stored_bytes(path), path.name
    # What the browser sends back: the hidden fields, every proposal offered, the ticked ones.
    fields = {k: v for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
              if k != "offered"}
    offered = re.findall(r'<input type="hidden" name="offered" value="([^"]+)"', html)
    keys = re.findall(r'name="redact" value="([^"]+)"', html)
    grace = re.search(r'name="redact" value="([^"]+)" checked>\s*<label[^>]*>Replace<span class="usa-sr-only"> “Grace”',
                      html)
    grace_key = grace.group(1)
    data = {**fields, "offered": offered, "redact": [k for k in keys if k != grace_key], "never": ["Grace"],
            "also": "cookie", "also_kind": "PERSON"}
    tampered = client.post(f"/studies/{study.id}/upload/reviewed", data={**data, "data": fields["data"][:-8] + "AAAAAAA="})
    assert "not the one that was previewed" in client.get(tampered.headers["Location"]).get_data(as_text=True)
    stored = client.post(f"/studies/{study.id}/upload/reviewed", data=data)
    assert stored.status_code == 302, stored.get_data(as_text=True)
    assert "1 proposed replacement left out, 1 value added" in client.get(stored.headers["Location"]).get_data(
        as_text=True)
    with db.read_session() as s:
        text = s.scalars(select(Source)).one().text
        kept = [t.value for t in s.scalars(select(StudyTerm).where(StudyTerm.kind == "keep"))]
    assert "Grace period rules" in text and "cookie" not in text
    assert "Maria" not in text and "0143" not in text
    assert kept == ["Grace"]


def test_an_export_preview_shows_column_roles_and_first_rows_and_stores_nothing(app, client, db, study, data_dir):
    import re

    rows = ["ticket_id,requester_name,requester_email,channel,description"]
    for i in range(8):
        rows.append(f'{i},Maria Alvarez,maria.alvarez@example.com,phone,"Maria Alvarez says the interim payment '
                    f'is late, ticket {i}."')
    body = ("\n".join(rows) + "\n").encode()
    page = client.get(f"/studies/{study.id}/upload")
    shown = client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "ticket", "action": "preview",
        "files": [(io.BytesIO(body), "tickets.csv")]}, content_type="multipart/form-data")
    html = " ".join(shown.get_data(as_text=True).split())
    assert shown.status_code == 200 and "8 records" in html
    assert "text (de-identified)" in html and "never stored" in html and "record id" in html
    assert html.count("the interim payment is late") == 5  # the first five, de-identified
    visible = re.sub(r'<input type="hidden"[^>]*>', "", html)
    assert "maria.alvarez@example.com" not in visible and "Maria Alvarez says" not in visible
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 0
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', shown.get_data(as_text=True)))
    done = client.post(f"/studies/{study.id}/upload/reviewed-export", data=fields)
    assert done.status_code == 302 and "/imports/" in done.headers["Location"]
    jobs.wait_background(app, timeout=60)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Source)) == 8


def _export(rows: dict[int, str], with_id: bool = True) -> bytes:
    head = "Id,Subject,Description,Created at,Via" if with_id else "Subject,Description,Created at,Via"
    lines = [head] + [(f"{i}," if with_id else "") + f'Ticket,"{text}",2024-03-01T10:00:00Z,phone'
                      for i, text in rows.items()]
    return ("\n".join(lines) + "\n").encode()


def _import(app, client, study_id: int, name: str, data: bytes) -> dict:
    response = upload(client, study_id, [(name, data)])
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    jobs.wait_background(app, timeout=60)
    return client.get(response.headers["Location"] + "/status").get_json() | {"url": response.headers["Location"]}


def test_a_record_edited_since_the_last_import_replaces_its_earlier_version(app, client, db, study):
    """With an id column, edited rows were rejected as duplicates and the edits dropped. Now an
    edited record replaces its stored version (same source, new passages, audited); the same
    record again is still a duplicate; read = stored + rejected holds."""
    from research_repo.search import indexer

    first = _import(app, client, study.id, "week1.csv", _export({1: "The letter about the pension was late.",
                                                                  2: "Phone lines were busy all morning."}))
    assert (first["stored"], first["rejected"]) == (2, 0)
    second = _import(app, client, study.id, "week2.csv", _export({
        1: "The letter about the pension was late.",  # the same
        2: "Phone lines were busy all morning; the callback never came.",  # edited
        3: "A new ticket about survivor benefits."}))
    assert (second["read"], second["stored"], second["rejected"]) == (3, 2, 1)
    csv_text = client.get(second["url"] + "/rejections.csv").get_data(as_text=True)
    assert "line 2" in csv_text and "duplicate" in csv_text
    with db.read_session() as s:
        sources = {src.record_number: src for src in s.scalars(select(Source))}
        texts = sorted(src.text for src in sources.values())
        assert len(texts) == 3 and any("callback never came" in t for t in texts)
        assert not any(t.endswith("busy all morning.") for t in (x.split("\n\n")[-1] for x in texts))
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "source.replace")).one()
        assert event.details["passages_before"] >= 1
    page = client.get(second["url"]).get_data(as_text=True)
    assert "1 replaced an earlier version" in page
    indexer.drain_all(app)
    found = client.get("/api/v1/search", query_string={"q": "callback"}).get_json()
    assert found["total"] == 1
    missing, extra = indexer.consistency(app)
    assert not missing and not extra


def test_an_edited_record_whose_earlier_version_is_coded_is_kept_with_a_reason(app, client, db, study):
    from research_repo.models import Highlight, Passage

    _import(app, client, study.id, "week1.csv", _export({7: "The survivor annuity form was confusing."}))
    with db.writing() as s:
        passage = s.scalars(select(Passage)).first()
        s.add(Highlight(passage_id=passage.id, start_offset=passage.start_offset, end_offset=passage.end_offset,
                        memo="confusing form"))
    second = _import(app, client, study.id, "week2.csv", _export({7: "The survivor annuity form was fine."}))
    assert (second["stored"], second["rejected"]) == (0, 1)
    csv_text = client.get(second["url"] + "/rejections.csv").get_data(as_text=True)
    assert "coded or quoted as evidence" in csv_text
    with db.read_session() as s:
        assert [src.text.endswith("confusing.") for src in s.scalars(select(Source))] == [True]


def test_without_an_id_column_an_edited_record_is_a_new_one_and_the_report_says_so(app, client, db, study):
    _import(app, client, study.id, "week1.csv", _export({1: "Slow pension letters."}, with_id=False))
    second = _import(app, client, study.id, "week2.csv", _export({1: "Slow pension letters, again."}, with_id=False))
    assert second["stored"] == 1
    page = client.get(second["url"]).get_data(as_text=True)
    assert "has no id column" in page
