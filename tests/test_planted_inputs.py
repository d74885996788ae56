"""No identifier slips in through a side door. Every form and JSON body field a signed-in
researcher can send gets a planted name, email and phone number; afterwards none of them is
in the database file or its WAL, the search index, the logs, or any cookie the server sent
(flash messages ride in the signed, unencrypted session cookie). Free text is stored
de-identified (the page says how many were replaced); strict values are refused."""
from __future__ import annotations

import io
import json
import logging

import pytest
from sqlalchemy import select

from research_repo import jobs
from research_repo.models import Highlight, Insight, Passage, Role, Source, Study, Tag, Theme, ThemeRun
from research_repo.search import indexer

from .helpers import csrf_token, stored_bytes
from .test_themes import transcript, upload

SURNAME, EMAIL_AT, PHONE_AREA = "Gonzalez", "walker@example.org", "555-01"
# The index keeps words lower-cased, so the surname is looked for in both cases.
NEEDLES = [SURNAME.encode(), SURNAME.lower().encode(), EMAIL_AT.split(".")[0].encode(), PHONE_AREA.encode()]


def plant(i: int) -> str:
    return f"Maria {SURNAME} p{i}{EMAIL_AT} (703) {PHONE_AREA}{i:02d}"


class Walk:
    def __init__(self, app, client):
        self.app, self.client, self.n, self.statuses, self.cookies = app, client, 0, {}, []

    def next_plant(self) -> str:
        self.n += 1
        return plant(self.n)

    def _keep(self, name, response):
        assert response.status_code < 500, (name, response.status_code, response.get_data(as_text=True)[:400])
        self.statuses[name] = response.status_code
        self.cookies += response.headers.getlist("Set-Cookie")
        return response

    def form(self, name, url, data, page=None, **kw):
        token = csrf_token(self.client.get(page or url).get_data(as_text=True))
        return self._keep(name, self.client.post(url, data={"csrf_token": token, **data}, **kw))

    def api(self, name, url, body):
        token = csrf_token(self.client.get("/studies").get_data(as_text=True))
        return self._keep(name, self.client.post(url, data=json.dumps(body), content_type="application/json",
                                                 headers={"X-CSRFToken": token}))


@pytest.fixture
def world(app, client, signed_in, make_study, db):
    user = signed_in("rita", Role.RESEARCHER)
    study = make_study("Annuitant interviews", user)
    for n in range(4):
        upload(client, study.id, f"interview-{n}.txt", transcript(n))
    indexer.drain_all(app)
    return study


def test_every_input_is_de_identified_or_refused(app, client, world, db, caplog, data_dir, stored_files):
    caplog.set_level(logging.DEBUG)
    study, w = world, Walk(app, client)
    sid = study.id
    P = w.next_plant

    # Studies: free text in name, service and purpose; the OMB number is a code.
    w.form("study.new", "/studies/new", {"name": P(), "service": P(), "purpose": P(), "method": "interviews"})
    w.form("study.new.code", "/studies/new", {"name": "Codes", "service": "OPM.gov", "method": "interviews",
                                              "omb_control_number": P(), "omb_expires_on": P()})
    w.form("study.edit", f"/studies/{sid}/edit", {"name": "Annuitant interviews", "service": P(), "purpose": P(),
                                                  "method": "interviews"})
    w.form("study.member", f"/studies/{sid}/members", {"username": P(), "role": "viewer"}, page=f"/studies/{sid}/edit")

    # Uploads: a document with planted words in its name, text and every form field; an export
    # whose column names and values hold them.
    doc = f"Moderator: Hello.\nP1: My name is {P()} and the annuity letter was late.\n"
    w.form("upload.doc", f"/studies/{sid}/upload", {
        "kind": "interview", "title": P(), "channel": P(), "segment": P(), "journey_stage": P(),
        "files": [(io.BytesIO(doc.encode()), f"{P()}.txt")]}, content_type="multipart/form-data")
    column = f"Notes from {P()}"
    export = f'ticket_id,description,"{column}",segment\n1,"Call {P()} about interim pay",x,"{P()}"\n'
    w.form("upload.export", f"/studies/{sid}/upload", {
        "kind": "ticket", "text_columns": f"description,{column}", "encoding": P(),
        "files": [(io.BytesIO(export.encode()), "tickets.csv")]}, content_type="multipart/form-data")
    w.form("upload.export.ok", f"/studies/{sid}/upload", {
        "kind": "ticket", "text_columns": f"description,{column}",
        "files": [(io.BytesIO(export.encode()), "tickets.csv")]}, content_type="multipart/form-data")
    jobs.wait_background(app)
    indexer.drain_all(app)

    # Codebook: names are refused when they hold an identifier, descriptions de-identified.
    w.form("tag.new", f"/studies/{sid}/codebook", {"name": P(), "parent": "", "description": P(), "color": P()})
    w.form("tag.new.ok", f"/studies/{sid}/codebook", {"name": "Letters", "parent": "", "description": P()})
    with db.read_session() as s:
        tag = s.scalar(select(Tag).where(Tag.study_id == sid, Tag.path == "Letters"))
        passage = s.scalars(select(Passage).join(Source).where(Source.study_id == sid, Passage.speaker_role == "P1")
                            .order_by(Passage.id)).first()
        _ = passage.text
    w.form("tag.edit", f"/studies/{sid}/codebook/tags/{tag.id}", {"name": "Letters", "parent": "", "description": P()})
    qdc = f"path,description,color\n{P()},{P()},#005ea2\nLate letters,{P()},#005ea2\n"
    w.form("codebook.import", f"/studies/{sid}/codebook/import", {
        "file": [(io.BytesIO(qdc.encode()), f"{P()}.csv")]}, page=f"/studies/{sid}/codebook",
        content_type="multipart/form-data")

    # Coding: a highlight's memo, a typed quote that is not in the passage, tag all over a search.
    page = f"/studies/{sid}/passages/{passage.id}"
    w.form("highlight", page, {"quote": passage.text[:20], "tags": [str(tag.id)], "memo": P()})
    w.form("highlight.quote", page, {"quote": P(), "tags": [str(tag.id)], "memo": "x"})
    w.form("tag_all", f"/studies/{sid}/tag-all", {"q": P(), "tag": str(tag.id), "back": P()},
           page=f"/search?q=annuity&study={sid}")

    # Themes: a run over a planted search, then a rename to a planted label.
    w.form("themes.run.q", f"/studies/{sid}/themes/run", {"k": P(), "query": P(), "date_from": P()},
           page=f"/studies/{sid}/themes")
    w.form("themes.run", f"/studies/{sid}/themes/run", {"k": "3"}, page=f"/studies/{sid}/themes")
    jobs.Worker(app).run(until_idle=True)
    with db.read_session() as s:
        run = s.scalars(select(ThemeRun).where(ThemeRun.study_id == sid).order_by(ThemeRun.id.desc())).first()
        theme = s.scalars(select(Theme).where(Theme.run_id == run.id)).first()
    w.form("theme.rename", f"/studies/{sid}/themes/{run.id}/act", {"action": "rename", "theme": str(theme.id),
                                                                   "label": P()}, page=f"/studies/{sid}/themes")
    w.form("theme.move", f"/studies/{sid}/themes/{run.id}/act", {"action": "move", "theme": str(theme.id),
                                                                 "passage": P()}, page=f"/studies/{sid}/themes")

    # Insights and the learning agenda.
    w.form("insight.new", f"/studies/{sid}/insights", {"statement": P(), "service": P(), "journey_stage": P(),
                                                       "segment": P(), "driver-trust": P()})
    with db.read_session() as s:
        insight = s.scalars(select(Insight).where(Insight.study_id == sid)).first()
    assert insight is not None, w.statuses
    w.form("insight.edit", f"/studies/{sid}/insights/{insight.id}", {"statement": P(), "service": P(),
                                                                     "segment": P()})
    w.form("insight.status", f"/studies/{sid}/insights/{insight.id}/status", {"status": P(), "back": P()},
           page=f"/studies/{sid}/insights/{insight.id}")
    w.form("agenda", "/learning-agenda", {"agency": P(), "number": P(), "text": P(), "strategic_goal": P()})
    w.form("agenda.ok", "/learning-agenda", {"agency": "OPM", "number": "Q77", "text": P(), "strategic_goal": P()})

    # Searches, hand redaction, tokens.
    w.form("search.save", "/searches", {"name": P(), "q": "annuity"}, page="/search?q=annuity")
    w.form("search.save.q", "/searches", {"name": "Mine", "q": P()}, page="/search?q=annuity")
    w.form("search.save.filter", "/searches", {"name": "Filtered", "q": "annuity", "service": P(), "from": P()},
           page="/search?q=annuity")
    with db.read_session() as s:
        source = s.scalars(select(Source).where(Source.study_id == sid)).first()
    w.form("redact", f"/studies/{sid}/sources/{source.id}/redact", {"value": P(), "kind": "PERSON"},
           page=f"/studies/{sid}/sources/{source.id}")
    w.form("token", "/account/tokens", {"name": P(), "days": "30"})

    # The JSON API.
    w.api("api.tag", f"/api/v1/studies/{sid}/tags", {"name": P(), "description": P(), "color": P()})
    w.api("api.tag.ok", f"/api/v1/studies/{sid}/tags", {"name": "Calls", "description": P()})
    w.api("api.highlight", f"/api/v1/studies/{sid}/highlights", {"passage_id": passage.id, "quote": passage.text[:15],
                                                                  "memo": P(), "tags": [{"id": P()}]})
    w.api("api.highlight.bad", f"/api/v1/studies/{sid}/highlights", {"passage_id": P(), "quote": P(), "memo": P()})
    w.api("api.insight", f"/api/v1/studies/{sid}/insights", {
        "statement": P(), "service": P(), "journey_stage": P(), "segment": P(),
        "drivers": [{"driver": P(), "polarity": P()}], "evidence": {"passages": [passage.id]}})
    w.api("api.insight.bad", f"/api/v1/studies/{sid}/insights", {
        "statement": P(), "evidence": {"highlights": [P()], "themes": P()}})
    indexer.drain_all(app)

    # What the user saw: free text was accepted (de-identified), strict values refused.
    assert w.statuses["study.new"] == 302 and w.statuses["study.new.code"] == 400
    assert w.statuses["tag.new"] in (400, 409) and w.statuses["search.save"] == 400
    assert w.statuses["search.save.q"] == 400 and w.statuses["search.save.filter"] == 400
    assert w.statuses["agenda"] == 400 and w.statuses["agenda.ok"] == 302
    assert w.statuses["api.highlight.bad"] in (400, 404) and w.statuses["api.insight.bad"] == 400
    with db.read_session() as s:
        new_study = s.scalars(select(Study).order_by(Study.id.desc())).first()
        assert "[PERSON" in new_study.name and "[EMAIL" in new_study.purpose and "[PHONE" in new_study.service
        assert s.scalar(select(Highlight.memo).where(Highlight.memo.like("%[EMAIL%"))) is not None
        assert s.get(Theme, theme.id).label.count("[") >= 2

    # Nothing planted anywhere the server wrote or sent.
    found = []
    for path in sorted(stored_files()):
        data = stored_bytes(path)
        found += [(str(path), n.decode()) for n in NEEDLES if n in data]
    logged = caplog.text.encode()
    found += [("log", n.decode()) for n in NEEDLES if n in logged]
    serializer = app.session_interface.get_signing_serializer(app)
    for header in w.cookies:
        value = header.split(";", 1)[0].split("=", 1)[1]
        try:
            content = json.dumps(serializer.loads(value)).encode()
        except Exception:  # noqa: BLE001 - not the session cookie
            content = value.encode()
        found += [("cookie", n.decode()) for n in NEEDLES if n in content]
    assert not found, found
