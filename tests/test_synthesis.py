"""Synthesis through the pages, the database and the index: the codebook (with the locked A-11
set, CSV and REFI-QDA .qdc), highlights with memos, tag all results and undo, insights and
their workflow, the learning-agenda evidence chain, exports (CSV, XLSX, .docx, .qdpx checked
against the REFI-QDA schema) and the token-authenticated JSON API."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from research_repo.models import (
    AuditEvent,
    Highlight,
    HighlightTag,
    Insight,
    InsightStatus,
    LearningAgendaQuestion,
    Passage,
    Role,
    Source,
    Tag,
)
from research_repo.search import indexer
from research_repo.services import fixtures

from .helpers import csrf_token, login, settle, stored_bytes

REFI = Path(__file__).resolve().parent / "data" / "refi-qda"  # MIT, see tests/data/SOURCES.md

TRANSCRIPT = """Moderator: How did the first months of retirement go?
P1: The interim annuity payment was much smaller than I expected and nobody explained why.
Moderator: And the phone line?
P1: The agent on the phone was patient and finally explained the interim payment to me.
"""


def post(client, url: str, data: dict, page_url: str | None = None, **kw):
    page = client.get(page_url or url)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **data}, **kw)


@pytest.fixture
def study(app, client, signed_in, make_study, db):
    user = signed_in("rita", Role.RESEARCHER)
    study = make_study("Annuitant interviews", user)
    with db.writing() as s:
        fixtures.load_learning_agenda(s, None)
    page = client.get(f"/studies/{study.id}/upload")
    response = client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview", "channel": "phone",
        "files": [(io.BytesIO(TRANSCRIPT.encode()), "interview-1.txt")]}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    indexer.drain_all(app)
    return study


def passages_of(db, study_id: int) -> list[Passage]:
    with db.read_session() as s:
        rows = s.scalars(select(Passage).join(Source).where(Source.study_id == study_id, Passage.speaker_role == "P1")
                         .order_by(Passage.id)).all()
        for p in rows:
            _ = p.text
        return rows


def tag_id(db, study_id: int, path: str) -> int:
    with db.read_session() as s:
        return s.scalar(select(Tag.id).where(Tag.study_id == study_id, Tag.path == path))


def add_tag(client, study_id: int, name: str, parent: int | None = None, **extra):
    return post(client, f"/studies/{study_id}/codebook", {"name": name, "parent": str(parent or ""), **extra})


def test_codebook_tags_nest_rename_move_merge_and_delete(client, study, db):
    page = client.get(f"/studies/{study.id}/codebook").get_data(as_text=True)
    # The locked A-11 set is there in every study, with all eight drivers.
    for name in ("Trust", "Effectiveness", "Ease", "Efficiency", "Transparency", "Humanity", "Employee helpfulness",
                 "Satisfaction"):
        assert name in page
    assert add_tag(client, study.id, "Pay").status_code == 302
    pay = tag_id(db, study.id, "Pay")
    assert add_tag(client, study.id, "Interim pay", pay, description="Payments before the final annuity",
                   color="#005ea2").status_code == 302
    interim = tag_id(db, study.id, "Pay/Interim pay")
    assert interim
    # Duplicates, bad colors and adding to the locked set are refused with what to fix.
    response = add_tag(client, study.id, "interim pay", pay)
    assert response.status_code == 409 and "already has a tag" in response.get_data(as_text=True)
    response = add_tag(client, study.id, "Letters", color="blue")
    assert response.status_code == 400 and "six hexadecimal digits" in response.get_data(as_text=True)
    response = add_tag(client, study.id, "Extra", tag_id(db, study.id, "A-11 drivers"))
    assert response.status_code == 400 and "locked" in response.get_data(as_text=True)
    trust = tag_id(db, study.id, "A-11 drivers/Trust")
    response = post(client, f"/studies/{study.id}/codebook/tags/{trust}", {"name": "Confidence", "parent": ""},
                    page_url=f"/studies/{study.id}/codebook")
    assert response.status_code == 400 and "locked" in response.get_data(as_text=True)

    # Renaming a parent renames its children's paths; moving a tag carries its subtree.
    url = f"/studies/{study.id}/codebook/tags/{pay}"
    assert post(client, url, {"name": "Payments", "parent": ""}).status_code == 302
    with db.read_session() as s:
        assert s.get(Tag, interim).path == "Payments/Interim pay"
    add_tag(client, study.id, "Money")
    money = tag_id(db, study.id, "Money")
    assert post(client, url, {"name": "Payments", "parent": str(money)}).status_code == 302
    with db.read_session() as s:
        assert s.get(Tag, interim).path == "Money/Payments/Interim pay"
    response = post(client, f"/studies/{study.id}/codebook/tags/{money}", {"name": "Money", "parent": str(interim)})
    assert response.status_code == 400 and "under itself" in response.get_data(as_text=True)

    # Merge: the highlights of the merged tag follow.
    p = passages_of(db, study.id)[0]
    add_tag(client, study.id, "Small payments")
    small = tag_id(db, study.id, "Small payments")
    assert post(client, f"/studies/{study.id}/passages/{p.id}", {"quote": "much smaller", "tags": str(small)}
                ).status_code == 302
    response = post(client, f"/studies/{study.id}/codebook/tags/{interim}",
                    {"action": "merge", "name": "Interim pay", "other": str(small)})
    assert response.status_code == 302
    with db.read_session() as s:
        assert s.get(Tag, small) is None
        assert s.scalar(select(func.count()).select_from(HighlightTag).where(HighlightTag.tag_id == interim)) == 1

    # Delete asks first and says what goes; the highlight stays, uncoded.
    confirm = client.get(f"/studies/{study.id}/codebook/tags/{money}/delete").get_data(as_text=True)
    assert "3 tags" in confirm and "1 coding" in confirm
    assert post(client, f"/studies/{study.id}/codebook/tags/{money}/delete", {}).status_code == 302
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Tag).where(Tag.study_id == study.id, Tag.is_system.is_(False))) == 0
        assert s.scalar(select(func.count()).select_from(Highlight)) == 1
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study.id)))
    assert {"tag.create", "tag.update", "tag.merge", "tag.delete", "highlight.create"} <= actions


def test_codebook_csv_and_qdc_round_trip_and_report_every_row(client, study, db, make_study, signed_in):
    add_tag(client, study.id, "Pay", description="=AVERAGE(A1:A9)")
    add_tag(client, study.id, "Interim pay", tag_id(db, study.id, "Pay"), color="#00a91c")
    exported = client.get(f"/studies/{study.id}/codebook.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["path"] for r in rows][:2] == ["Pay", "Pay/Interim pay"]
    assert rows[0]["description"] == "'=AVERAGE(A1:A9)"  # neutralized in the file

    def upload(data: bytes, name: str):
        return post(client, f"/studies/{study.id}/codebook/import", {"file": (io.BytesIO(data), name)},
                    page_url=f"/studies/{study.id}/codebook", content_type="multipart/form-data")

    # Our own export comes back unchanged (and the description is read back without the guard).
    page = upload(exported.encode(), "codebook.csv").get_data(as_text=True)
    # Two of ours, the A-11 set and its eight drivers.
    assert "Read 11 rows: 0 created, 0 updated, 11 unchanged, 0 rejected" in page
    with db.read_session() as s:
        assert s.scalar(select(Tag.description).where(Tag.study_id == study.id, Tag.path == "Pay")) == "=AVERAGE(A1:A9)"
    data = "path,description,color\nLetters/Late letters,Letters that came late,#d83933\n,no path,\nPhone,,red\n"
    page = upload(data.encode(), "more.csv").get_data(as_text=True)
    assert "Read 3 rows: 1 created, 0 updated, 0 unchanged, 2 rejected" in page
    assert "Row 3: The path is empty" in page and "Row 4: Write the color" in page
    page = upload(data.encode(), "more.csv").get_data(as_text=True)
    assert "Read 3 rows: 0 created, 0 updated, 1 unchanged, 2 rejected" in page
    assert upload(b"name\nx\n", "bad.csv").status_code == 400

    qdc = client.get(f"/studies/{study.id}/codebook.qdc").get_data()
    schema = etree.XMLSchema(etree.parse(str(REFI / "Codebook.xsd")))
    assert schema.validate(etree.fromstring(qdc)), schema.error_log
    with db.read_session() as s:
        from research_repo.models import User

        rita = s.scalar(select(User).where(User.username == "rita"))
    other = make_study("USAJOBS applicants", rita)
    page = post(client, f"/studies/{other.id}/codebook/import", {"file": (io.BytesIO(qdc), "codebook.qdc")},
                page_url=f"/studies/{other.id}/codebook", content_type="multipart/form-data").get_data(as_text=True)
    assert "0 rejected" in page
    with db.read_session() as s:
        paths = set(s.scalars(select(Tag.path).where(Tag.study_id == other.id, Tag.is_system.is_(False))))
    assert paths == {"Pay", "Pay/Interim pay", "Letters", "Letters/Late letters"}


def test_highlight_with_tags_driver_polarity_and_a_memo_that_is_deidentified(app, client, study, db, stored_files):
    add_tag(client, study.id, "Interim pay")
    interim = tag_id(db, study.id, "Interim pay")
    trust = tag_id(db, study.id, "A-11 drivers/Trust")
    p = passages_of(db, study.id)[0]
    url = f"/studies/{study.id}/passages/{p.id}"
    # A driver must say its polarity.
    response = post(client, url, {"quote": "interim annuity payment", "tags": str(trust)})
    assert response.status_code == 400 and "positive or negative" in response.get_data(as_text=True)
    start = p.text.index("interim annuity payment")
    response = post(client, url, {
        "quote": "interim annuity payment", "start": str(start), "end": str(start + 23), "tags": str(interim),
        f"driver-{trust}": "negative", "memo": "Follow up with Maria Alvarez at maria.alvarez@example.com"})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "interim annuity payment" in page and "A-11 drivers/Trust (negative)" in page
    with db.read_session() as s:
        h = s.scalars(select(Highlight)).one()
        assert (h.start_offset - p.start_offset, h.end_offset - p.start_offset) == (start, start + 23)
        assert "Maria" not in h.memo and "example.com" not in h.memo and "[EMAIL" in h.memo
    # Text that is not in the passage is refused with what to do.
    response = post(client, url, {"quote": "not in this passage at all", "tags": str(interim)})
    assert response.status_code == 400 and "not in this passage" in response.get_data(as_text=True)
    for f in stored_files():
        assert b"Alvarez" not in stored_bytes(f), f

    # A hand redaction earlier in the source keeps the highlight on the same words.
    source_url = f"/studies/{study.id}/sources/{p.source_id}"
    assert post(client, f"{source_url}/redact", {"value": "Moderator", "kind": "PERSON"},
                page_url=source_url).status_code == 302
    with db.read_session() as s:
        h = s.scalars(select(Highlight)).one()
        src = s.get(Source, p.source_id)
        assert src.text[h.start_offset:h.end_offset] == "interim annuity payment"


def test_tag_all_results_of_a_search_is_audited_and_undoable(app, client, study, db):
    add_tag(client, study.id, "Interim pay")
    interim = tag_id(db, study.id, "Interim pay")
    page = client.get("/search", query_string={"q": "interim", "study": str(study.id)}).get_data(as_text=True)
    assert "Tag all 2 results" in page
    response = post(client, f"/studies/{study.id}/tag-all",
                    {"q": "interim", "study": str(study.id), "apply_tag": str(interim),
                     "back": f"/search?q=interim&study={study.id}"},
                    page_url=f"/search?q=interim&study={study.id}")
    assert response.status_code == 302
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(HighlightTag).where(HighlightTag.tag_id == interim)) == 2
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "highlight.bulk_tag")).one()
    assert event.details["created"] == 2
    # The index learns the tag: a search filtered by it finds both passages.
    indexer.drain_all(app)
    tagged = client.get("/api/v1/search", query_string={"tag": "Interim pay"}).get_json()
    assert tagged["total"] == 2
    # Again: nothing new (the passages already carry the tag).
    post(client, f"/studies/{study.id}/tag-all", {"q": "interim", "study": str(study.id), "apply_tag": str(interim)},
         page_url=f"/search?q=interim&study={study.id}")
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Highlight)) == 2
    # Undo the first step from the codebook page.
    page = client.get(f"/studies/{study.id}/codebook").get_data(as_text=True)
    assert f"Step {event.object_id}: 2 passages from a search" in page
    assert post(client, f"/studies/{study.id}/coding/{event.object_id}/undo", {},
                page_url=f"/studies/{study.id}/codebook").status_code == 302
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Highlight)) == 0
    indexer.drain_all(app)
    assert client.get("/api/v1/search", query_string={"tag": "Interim pay"}).get_json()["total"] == 0
    response = post(client, f"/studies/{study.id}/coding/{event.object_id}/undo", {},
                    page_url=f"/studies/{study.id}/codebook")
    assert "already undone" in client.get(response.headers["Location"]).get_data(as_text=True)
    # An empty search is not a reason to tag a whole study.
    response = post(client, f"/studies/{study.id}/tag-all", {"q": "", "apply_tag": str(interim)},
                    page_url=f"/studies/{study.id}/codebook")
    assert "Search for something first" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_undo_of_an_older_step_never_takes_a_later_steps_codings(app, client, study, db):
    """Tag all "interim" results Alpha, then Beta: undoing the Alpha step first is refused with
    what to do (it would take Beta's codings with its highlights); latest first, both undo.
    A memo written by hand on a step's highlight keeps the highlight."""
    add_tag(client, study.id, "Alpha")
    add_tag(client, study.id, "Beta")
    alpha, beta = tag_id(db, study.id, "Alpha"), tag_id(db, study.id, "Beta")
    search_url = f"/search?q=interim&study={study.id}"
    steps = []
    for tag in (alpha, beta):
        assert post(client, f"/studies/{study.id}/tag-all", {"q": "interim", "study": str(study.id),
                    "apply_tag": str(tag)}, page_url=search_url).status_code == 302
        with db.read_session() as s:
            steps.append(s.scalars(select(AuditEvent).where(AuditEvent.action == "highlight.bulk_tag")
                                   .order_by(AuditEvent.id.desc())).first().object_id)

    def codings(tag):
        with db.read_session() as s:
            return s.scalar(select(func.count()).select_from(HighlightTag).where(HighlightTag.tag_id == tag))

    assert (codings(alpha), codings(beta)) == (2, 2)
    refused = post(client, f"/studies/{study.id}/coding/{steps[0]}/undo", {}, page_url=f"/studies/{study.id}/codebook")
    page = client.get(refused.headers["Location"]).get_data(as_text=True) if refused.status_code == 302 \
        else refused.get_data(as_text=True)
    assert f"undo step {steps[1]} first" in page
    assert (codings(alpha), codings(beta)) == (2, 2)
    assert post(client, f"/studies/{study.id}/coding/{steps[1]}/undo", {},
                page_url=f"/studies/{study.id}/codebook").status_code == 302
    with db.writing() as s:  # a memo written by hand since the step
        s.scalars(select(Highlight).order_by(Highlight.id)).first().memo = "Follow up with the payroll team."
    assert post(client, f"/studies/{study.id}/coding/{steps[0]}/undo", {},
                page_url=f"/studies/{study.id}/codebook").status_code == 302
    assert (codings(alpha), codings(beta)) == (0, 0)
    with db.read_session() as s:
        assert [h.memo for h in s.scalars(select(Highlight))] == ["Follow up with the payroll team."]
    settle(app)
    assert client.get("/api/v1/search", query_string={"tag": "Beta"}).get_json()["total"] == 0


def highlight(client, db, study, quote: str, tags: dict) -> int:
    p = next(p for p in passages_of(db, study.id) if quote in p.text)
    data = {"quote": quote}
    for tid, polarity in tags.items():
        if polarity:
            data[f"driver-{tid}"] = polarity
        else:
            data["tags"] = str(tid)
    assert post(client, f"/studies/{study.id}/passages/{p.id}", data).status_code == 302
    with db.read_session() as s:
        return s.scalar(select(func.max(Highlight.id)))


def test_insight_workflow_and_the_learning_agenda_chain(app, client, study, db, make_user):
    trust = tag_id(db, study.id, "A-11 drivers/Trust")
    helpful = tag_id(db, study.id, "A-11 drivers/Employee helpfulness")
    h1 = highlight(client, db, study, "nobody explained why", {trust: "negative"})
    h2 = highlight(client, db, study, "patient and finally explained", {helpful: "positive"})
    with db.read_session() as s:
        q11 = s.scalar(select(LearningAgendaQuestion.id).where(LearningAgendaQuestion.number == "Q11"))
    url = f"/studies/{study.id}/insights"
    response = post(client, url, {"statement": "Annuitants are not told why interim pay is low; agents who explain "
                                               "it rebuild trust.", "driver-trust": "negative",
                                  "questions": str(q11), "highlight": [str(h1), str(h2)]},
                    page_url=f"{url}?highlight={h1}&highlight={h2}")
    assert response.status_code == 302
    detail_url = response.headers["Location"]
    page = client.get(detail_url).get_data(as_text=True)
    assert "nobody explained why" in page and "OPM Q11" in page and "OMB control number 3206-0001" in page

    # Review needs evidence; an analyst can review but not publish; published is locked.
    with db.read_session() as s:
        insight_id = s.scalar(select(Insight.id))
    assert post(client, f"{detail_url}/status", {"status": "published"}, page_url=detail_url).status_code == 302
    with db.read_session() as s:
        assert s.get(Insight, insight_id).status is InsightStatus.DRAFT  # draft cannot jump to published
    post(client, f"{detail_url}/status", {"status": "reviewed"}, page_url=detail_url)
    make_user("ana", Role.ANALYST)
    with db.writing() as s:
        from research_repo.services import studies as study_service
        from research_repo.models import User

        study_service.set_member(s, s.scalar(select(User).where(User.username == "rita")), study.id, "ana",
                                 Role.ANALYST)
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/studies").get_data(as_text=True))})
    login(client, "ana")
    response = post(client, f"{detail_url}/status", {"status": "published"}, page_url=detail_url)
    assert "Only a researcher" in client.get(response.headers["Location"]).get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/studies").get_data(as_text=True))})
    login(client, "rita")
    post(client, f"{detail_url}/status", {"status": "published"}, page_url=detail_url)
    with db.read_session() as s:
        insight = s.get(Insight, insight_id)
        assert insight.status is InsightStatus.PUBLISHED and insight.published_by_id and insight.reviewed_by_id
    response = post(client, detail_url, {"statement": "Changed after publishing, which is not allowed."})
    assert response.status_code == 409

    # An identifier typed into an insight is replaced before it is stored, and the page says so.
    response = post(client, url, {"statement": "Maria Alvarez (maria.alvarez@example.com, 202-555-0147) waited "
                                               "five months for her first payment."}, follow_redirects=True)
    assert "looked like identifiers and were replaced" in response.get_data(as_text=True)
    with db.read_session() as s:
        stored = s.scalars(select(Insight.statement).order_by(Insight.id.desc())).first()
        details = [str(d) for d in s.scalars(select(AuditEvent.details))]
    assert "Alvarez" not in stored and "example.com" not in stored and "0147" not in stored
    assert "waited five months" in stored
    assert not any("Alvarez" in d for d in details)

    # The learning agenda: Q11 has one insight with two quotes from one study, on the phone.
    page = client.get("/learning-agenda").get_data(as_text=True)
    row = re.search(r"OPM Q11</a>.*?</tr>", page, re.S).group(0)
    assert ">1</td>" in row and ">2</td>" in row and "Annuitant interviews 2" in row and "phone 2" in row
    assert "thin" in row  # one insight is thin evidence
    assert "Driver balance per service" in page and "Retirement Services" in page
    chain = client.get(f"/learning-agenda/{q11}").get_data(as_text=True)
    assert "nobody explained why" in chain and "3206-0001" in chain and "/sources/" in chain
    brief = client.get(f"/learning-agenda/{q11}/brief").get_data(as_text=True)
    assert "Annuitants are not told why" in brief and "nobody explained why" in brief
    docx_bytes = client.get(f"/learning-agenda/{q11}/brief.docx").get_data()
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(docx_bytes)).paragraphs)
    assert "Annuitants are not told why" in text and "nobody explained why" in text and "3206-0001" in text

    # Someone who cannot read the study sees the question without its evidence.
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/studies").get_data(as_text=True))})
    make_user("outsider", Role.RESEARCHER)
    login(client, "outsider")
    chain = client.get(f"/learning-agenda/{q11}").get_data(as_text=True)
    assert "No insight answers this question yet" in chain and "nobody explained" not in chain
    assert client.get(detail_url).status_code == 404


DANGEROUS = ['=CMD|"/c calc"!A1', "+1+1", "-2+3", "@SUM(A1)"]


def test_exports_neutralize_every_dangerous_cell_and_the_qdpx_validates(client, study, db):
    add_tag(client, study.id, "Interim pay", description=DANGEROUS[3])
    interim = tag_id(db, study.id, "Interim pay")
    p = passages_of(db, study.id)[0]
    for memo in DANGEROUS:
        assert post(client, f"/studies/{study.id}/passages/{p.id}",
                    {"quote": "interim annuity", "tags": str(interim), "memo": memo}).status_code == 302
    post(client, f"/studies/{study.id}/insights", {"statement": "=1+1 and the interim payment confuses people"})
    with db.read_session() as s:
        assert sorted(s.scalars(select(Highlight.memo))) == sorted(DANGEROUS)  # stored as typed

    raw = client.get(f"/studies/{study.id}/export/highlights.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert sorted(r[10] for r in rows[1:]) == sorted("'" + d for d in DANGEROUS)
    # Opened as text: no cell starts with a formula character.
    for row in rows:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r", "\n"), cell
    insights_csv = client.get(f"/studies/{study.id}/export/insights.csv").get_data(as_text=True)
    assert "'=1+1 and the interim" in insights_csv

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(client.get(f"/studies/{study.id}/export/highlights.xlsx").get_data()))
    cells = [c for row in wb.active.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert sum(1 for c in cells if isinstance(c.value, str) and c.value.startswith("'")) >= len(DANGEROUS)

    data = client.get(f"/studies/{study.id}/export/project.qdpx").get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        qde = z.read("project.qde")
        texts = {n: z.read(n).decode() for n in z.namelist() if n.startswith("sources/")}
    schema = etree.XMLSchema(etree.parse(str(REFI / "Project.xsd")))
    doc = etree.fromstring(qde)
    assert schema.validate(doc), schema.error_log
    ns = {"q": "urn:QDA-XML:project:1.0"}
    [source] = doc.findall(".//q:TextSource", ns)
    text = texts["sources/" + source.get("plainTextPath").removeprefix("internal://")]
    selections = source.findall("q:PlainTextSelection", ns)
    assert len(selections) == len(DANGEROUS)
    for sel in selections:
        assert text[int(sel.get("startPosition")):int(sel.get("endPosition"))].lower() == "interim annuity"
        code_ref = sel.find("q:Coding/q:CodeRef", ns).get("targetGUID")
        assert doc.find(f".//q:Code[@guid='{code_ref}']", ns).get("name") == "Interim pay"
    assert len(doc.findall(".//q:Notes/q:Note", ns)) == len(DANGEROUS) + 1  # memos and the insight


def test_every_formula_lead_is_neutralized_in_csv_and_xlsx():
    from openpyxl import load_workbook

    from research_repo.services import exports

    values = ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "\nx", "plain", "a=b"]
    table = exports.Table("T", ["value"], [[v] for v in values])
    read = [r[0] for r in csv.reader(io.StringIO(exports.to_csv(table), newline=""))][1:]
    assert read == ["'=1+1", "'+1", "'-1", "'@A1", "'\tx", "'\rx", "'\nx", "plain", "a=b"]
    wb = load_workbook(io.BytesIO(exports.to_xlsx(table)))
    cells = [row[0] for row in wb.active.iter_rows(min_row=2)]
    assert [c.value for c in cells] == read and all(c.data_type == "s" for c in cells)


def test_api_tokens_authenticate_and_the_same_access_rules_apply(app, client, study, db, make_user, make_study):
    page = post(client, "/account/tokens", {"name": "dashboard sync"}).get_data(as_text=True)
    token = re.search(r'<code id="new-token">([^<]+)</code>', page).group(1)
    assert token.startswith("rr_") and "Copy it now" in page
    assert token not in client.get("/account/tokens").get_data(as_text=True)  # shown once
    api = app.test_client()  # no cookie
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/studies").status_code == 401
    assert api.get("/api/v1/studies", headers={"Authorization": "Bearer rr_wrong"}).status_code == 401
    studies = api.get("/api/v1/studies", headers=auth).get_json()["studies"]
    assert [s["name"] for s in studies] == ["Annuitant interviews"]
    sources = api.get(f"/api/v1/studies/{study.id}/sources", headers=auth).get_json()
    passages = api.get(f"/api/v1/sources/{sources['sources'][0]['id']}/passages", headers=auth).get_json()["passages"]
    p1 = next(p for p in passages if p["speaker"] == "P1")
    tags = api.get(f"/api/v1/studies/{study.id}/tags", headers=auth).get_json()["tags"]
    trust = next(t for t in tags if t["driver"] == "trust")
    created = api.post(f"/api/v1/studies/{study.id}/tags", headers=auth, json={"name": "Interim pay"})
    assert created.status_code == 201
    response = api.post(f"/api/v1/studies/{study.id}/highlights", headers=auth, json={
        "passage_id": p1["id"], "quote": "much smaller",
        "tags": [{"id": created.get_json()["id"]}, {"id": trust["id"], "polarity": "negative"}]})
    assert response.status_code == 201, response.get_json()
    h = response.get_json()
    assert h["text"] == "much smaller" and {t["path"] for t in h["tags"]} == {"Interim pay", "A-11 drivers/Trust"}
    response = api.post(f"/api/v1/studies/{study.id}/insights", headers=auth, json={
        "statement": "Interim payments are smaller than expected.", "questions": [],
        "drivers": [{"driver": "trust", "polarity": "negative"}], "evidence": {"highlights": [h["id"]]}})
    assert response.status_code == 201 and response.get_json()["evidence"]["highlights"] == [h["id"]]
    detail = api.get(f"/api/v1/studies/{study.id}/insights/{response.get_json()['id']}", headers=auth).get_json()
    assert detail["quotes"][0]["text"] == "much smaller"
    assert api.post(f"/api/v1/studies/{study.id}/insights", headers=auth, json={"statement": "x"}).status_code == 400
    assert api.get("/api/v1/questions", headers=auth).status_code == 200

    # A cookie-signed-in write without the CSRF token is refused; with a token it is not needed.
    assert client.post(f"/api/v1/studies/{study.id}/tags", json={"name": "Other"}).status_code == 400
    # Another study's data is not found, and a viewer's token cannot write.
    other = make_study("Elsewhere", make_user("owner", Role.RESEARCHER))
    assert api.get(f"/api/v1/studies/{other.id}/sources", headers=auth).status_code == 404
    viewer = make_user("vera", Role.VIEWER)
    with db.writing() as s:
        from research_repo.models import User
        from research_repo.services import accounts, studies as study_service

        study_service.set_member(s, s.scalar(select(User).where(User.username == "rita")), study.id, "vera",
                                 Role.VIEWER)
        _row, viewer_token = accounts.create_api_token(s, s.get(User, viewer.id), "read only")
    vauth = {"Authorization": f"Bearer {viewer_token}"}
    assert api.get(f"/api/v1/studies/{study.id}/highlights", headers=vauth).get_json()["total"] == 1
    assert api.post(f"/api/v1/studies/{study.id}/tags", headers=vauth, json={"name": "Nope"}).status_code == 403

    # Revoked: it stops working.
    with db.read_session() as s:
        from research_repo.models import ApiToken

        token_id = s.scalar(select(ApiToken.id).where(ApiToken.name == "dashboard sync"))
    post(client, f"/account/tokens/{token_id}/revoke", {}, page_url="/account/tokens")
    assert api.get("/api/v1/studies", headers=auth).status_code == 401


def test_tag_all_passages_of_a_theme_and_write_an_insight_from_it(app, client, study, db):
    from research_repo.models import Theme, ThemeRun, ThemeRunStatus, ThemeStatus, theme_passage

    passages = passages_of(db, study.id)
    with db.writing() as s:
        run = ThemeRun(study_id=study.id, status=ThemeRunStatus.DONE, passage_count=len(passages))
        s.add(run)
        s.flush()
        theme = Theme(run_id=run.id, label="interim payment / explained", size=len(passages),
                      status=ThemeStatus.ACCEPTED, quotes=[p.id for p in passages])
        s.add(theme)
        s.flush()
        s.execute(theme_passage.insert(), [{"theme_id": theme.id, "passage_id": p.id} for p in passages])
        theme_id = theme.id
    add_tag(client, study.id, "Interim pay")
    interim = tag_id(db, study.id, "Interim pay")
    review = f"/studies/{study.id}/themes"
    page = client.get(review).get_data(as_text=True)
    assert f"Tag all {len(passages)} passages" in page and "Write an insight from this theme" in page
    response = post(client, f"/studies/{study.id}/tag-all", {"theme": str(theme_id), "apply_tag": str(interim),
                                                              "back": review}, page_url=review)
    assert response.status_code == 302 and response.headers["Location"].endswith(review)
    with db.read_session() as s:
        coded = set(s.scalars(select(Highlight.passage_id).join(HighlightTag).where(HighlightTag.tag_id == interim)))
    assert coded == {p.id for p in passages}

    form_page = f"/studies/{study.id}/insights?theme={theme_id}&statement=interim+payment"
    assert "It will start with 1 piece of evidence" in client.get(form_page).get_data(as_text=True)
    response = post(client, f"/studies/{study.id}/insights", {
        "statement": "Nobody explains interim payments until an agent on the phone does.", "theme": str(theme_id)},
        page_url=form_page)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    # The theme's representative quotes are the insight's evidence.
    assert "nobody explained why" in page and "from a theme" in page


def test_an_insights_drivers_read_in_one_order_after_edits(client, study, db):
    """PostgreSQL returns rows in no fixed order (an updated row moves to the end of the heap):
    the list, brief and exports show drivers alphabetically on both databases."""
    url = f"/studies/{study.id}/insights"
    statement = "Agents who explain interim pay are trusted."
    response = post(client, url, {"statement": statement, "driver-trust": "negative", "driver-humanity": "positive",
                                  "driver-ease": "negative"})
    assert response.status_code == 302
    detail_url = response.headers["Location"]
    # Change one driver's polarity, then the first's: both rows are rewritten.
    for changed in ({"driver-ease": "positive"}, {"driver-ease": "positive", "driver-trust": "positive"}):
        edit = post(client, detail_url, {"statement": statement, "driver-trust": "negative",
                                         "driver-humanity": "positive", "driver-ease": "negative", **changed})
        assert edit.status_code == 302, edit.get_data(as_text=True)[:300]
    page = client.get(url).get_data(as_text=True)
    assert "Ease (positive), Humanity (positive), Trust (positive)" in page
    with db.read_session() as s:
        insight = s.scalar(select(Insight).where(Insight.statement == statement))
        assert [d.driver.value for d in insight.drivers] == ["ease", "humanity", "trust"]
