"""Every route, HTML and API, synthesis and exports included, tried by every kind of caller
against the other study: its id, and the ids of its objects (sources, passages, tags,
highlights, insights, coding steps, theme runs, imports, saved searches, tokens, users) guessed
inside a URL of the caller's own study too. None answers with the other study's data, none
changes it, none fails with a 500."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from research_repo import jobs
from research_repo.models import (ApiToken, CodingAction, Highlight, HighlightTag, ImportRun, Insight,
                                  LearningAgendaQuestion, Passage, Role, SavedSearch,
                                  Source, Study, Tag, Theme, ThemeRun, User)
from research_repo.search import indexer
from research_repo.services import accounts, coding, fixtures, insights, saved_searches

from .helpers import csrf_token, login
from .test_themes import transcript

SECRET_WORD = "platypus"  # only study B says it
CALLERS = ("researcher", "analyst", "viewer", "outsider", "anonymous")
# Values for the routes' word arguments.
WORDS = {"fmt": ["docx", "csv", "qdc", "xlsx", "qdpx", "html"], "what": ["highlights", "insights", "project"],
         "action": ["status", "evidence", "remove", "delete"]}


def _upload(client, study_id, name, text, kind="interview"):
    page = client.get(f"/studies/{study_id}/upload")
    response = client.post(f"/studies/{study_id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": kind,
        "files": [(io.BytesIO(text.encode()), name)]}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def _populate(app, db, username: str, study: Study, word: str) -> dict[str, int]:
    """A study with every kind of object, made through the pages where a user would."""
    client = app.test_client()
    login(client, username)
    for n in range(4):
        _upload(client, study.id, f"interview-{n}.txt", transcript(n).replace("letter", f"letter {word}"))
    _upload(client, study.id, "tickets.csv", f"ticket_id,description\n1,The {word} form was lost\n2,Refund late\n",
            kind="ticket")
    jobs.wait_background(app)
    indexer.drain_all(app)
    page = client.get(f"/studies/{study.id}/themes")
    client.post(f"/studies/{study.id}/themes/run", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                         "k": "3"})
    jobs.Worker(app).run(until_idle=True)
    with db.writing() as s:
        actor = s.scalar(select(User).where(User.username == username))
        st = s.get(Study, study.id)
        tag = coding.create_tag(s, actor, st, f"Tag of {username}")
        passage = s.scalars(select(Passage).join(Source).where(Source.study_id == st.id, Passage.speaker_role == "P1")
                            .order_by(Passage.id)).first()
        highlight, _ = coding.create_highlight(s, actor, passage, coding.locate(passage, passage.text[:12]),
                                               [coding.Coding(tag.id)], f"Notes on the {word} letter")
        action = coding.bulk_tag(s, actor, st, [passage.id], coding.Coding(tag.id), "search")
        question = s.scalars(select(LearningAgendaQuestion).order_by(LearningAgendaQuestion.id)).first()
        insight, _ = insights.create(s, actor, st, insights.InsightInput(statement=f"Insight {word}",
                                                                         question_ids=[question.id]))
        insights.add_evidence(s, actor, insight, highlight_ids=[highlight.id], passage_ids=[], theme_ids=[])
        saved = saved_searches.save(s, actor, "annuity letters", {"q": "annuity"})
        token, _ = accounts.create_api_token(s, actor, f"token of {username}")
        run = s.scalars(select(ThemeRun).where(ThemeRun.study_id == st.id)).first()
        source = s.scalars(select(Source).where(Source.study_id == st.id)).first()
        return {"study_id": st.id, "source_id": source.id, "passage_id": passage.id, "tag_id": tag.id,
                "highlight_id": highlight.id, "insight_id": insight.id, "action_id": action.id, "run_id": run.id,
                "import_id": s.scalar(select(ImportRun.id).where(ImportRun.study_id == st.id)),
                "saved_id": saved.id, "token_id": token.id, "user_id": actor.id, "question_id": question.id}


def _snapshot(db, study_id: int) -> dict:
    """Everything of study B that a request could change."""
    with db.read_session() as s:
        def rows(model, *cols, where):
            return sorted(tuple(str(getattr(r, c)) for c in cols) for r in s.scalars(select(model).where(where)))

        return {
            "study": rows(Study, "name", "service", "purpose", where=Study.id == study_id),
            "sources": rows(Source, "id", "title", "text", where=Source.study_id == study_id),
            "passages": s.scalar(select(func.count()).select_from(Passage).join(Source).where(Source.study_id == study_id)),
            "tags": rows(Tag, "id", "path", "description", where=Tag.study_id == study_id),
            "highlights": rows(Highlight, "id", "memo", "start_offset", "end_offset", where=Highlight.passage_id.in_(
                select(Passage.id).join(Source).where(Source.study_id == study_id))),
            "codings": s.scalar(select(func.count()).select_from(HighlightTag).join(Highlight).join(Passage)
                                .join(Source).where(Source.study_id == study_id)),
            "insights": rows(Insight, "id", "statement", "status", where=Insight.study_id == study_id),
            "actions": rows(CodingAction, "id", "undone_at", where=CodingAction.study_id == study_id),
            "themes": rows(Theme, "id", "label", "status", where=Theme.run_id.in_(
                select(ThemeRun.id).where(ThemeRun.study_id == study_id))),
            "runs": rows(ThemeRun, "id", "status", where=ThemeRun.study_id == study_id),
            "imports": rows(ImportRun, "id", "status", where=ImportRun.study_id == study_id),
            "saved": rows(SavedSearch, "id", "name", where=SavedSearch.user_id.in_(
                select(User.id).where(User.username == "bob"))),
            "tokens": rows(ApiToken, "id", "revoked_at", where=ApiToken.user_id.in_(
                select(User.id).where(User.username == "bob"))),
            "users": rows(User, "username", "role", "is_active", where=User.id > 0),
        }


@pytest.fixture
def matrix_world(app, db, make_user, make_study):
    with db.writing() as s:
        fixtures.load_learning_agenda(s, None)
    users = {name: make_user(name, role) for name, role in (
        ("researcher", Role.RESEARCHER), ("analyst", Role.ANALYST), ("viewer", Role.VIEWER),
        ("outsider", Role.RESEARCHER), ("bob", Role.RESEARCHER))}
    mine = make_study("Study A", users["researcher"], members={"analyst": Role.ANALYST, "viewer": Role.VIEWER})
    theirs = make_study("Study B", users["bob"])
    make_study("Outsider's empty study", users["outsider"])
    own = _populate(app, db, "researcher", mine, "annuity")
    other = _populate(app, db, "bob", theirs, SECRET_WORD)
    return own, other


def _urls(app, own: dict, other: dict):
    """(rule, method, url) for every route with the other study's ids, and with the other
    study's object ids inside the caller's own study."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        ids = [a for a in rule.arguments if a not in WORDS]
        if not ids:
            continue  # no object of anyone's named: the planted-input and access tests cover these
        variants = [dict(other)]
        if "study_id" in ids and len(ids) > 1:
            variants.append({**other, "study_id": own["study_id"]})  # guessed object ids in one's own study
        words = [a for a in rule.arguments if a in WORDS]
        combos = [{}]
        for word in words:
            combos = [{**c, word: value} for c in combos for value in WORDS[word]]
        for values in variants:
            for combo in combos:
                path = rule.rule
                for name in rule.arguments:
                    value = combo.get(name, values.get(name))
                    path = path.replace(f"<int:{name}>", str(value)).replace(f"<{name}>", str(value))
                assert "None" not in path, (rule.rule, values)
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    yield rule.rule, method, path


def test_no_route_reads_or_changes_another_studys_data(app, db, matrix_world):
    own, other = matrix_world
    bob = app.test_client()
    login(bob, "bob")  # the control: the word is there to be leaked
    assert bob.get("/api/v1/search", query_string={"q": SECRET_WORD}).get_json()["total"] >= 1
    assert SECRET_WORD in bob.get(f"/studies/{other['study_id']}/insights/{other['insight_id']}").get_data(as_text=True)
    before = _snapshot(db, other["study_id"])
    seen, problems, rules, statuses = 0, [], set(), {}
    for caller in CALLERS:
        client = app.test_client()
        if caller != "anonymous":
            assert login(client, caller).status_code == 302
            token = csrf_token(client.get("/studies").get_data(as_text=True))
        else:
            token = csrf_token(client.get("/login").get_data(as_text=True))
        for rule, method, path in _urls(app, own, other):
            if method == "GET":
                response = client.get(path)
            elif path.startswith("/api/"):
                response = client.post(path, data=json.dumps({"name": "x", "statement": "x", "passage_id":
                                                              other["passage_id"], "quote": "the"}),
                                       content_type="application/json", headers={"X-CSRFToken": token})
            else:
                response = client.post(path, data={"csrf_token": token, "name": "Taken over", "label": "Taken",
                                                   "status": "published", "action": "accept", "tag": other["tag_id"],
                                                   "theme": other["run_id"], "value": "the", "kind": "PERSON",
                                                   "role": "admin", "is_active": "y", "password": "x" * 20,
                                                   "statement": "x", "q": "annuity", "confirm": "y"})
            seen += 1
            rules.add(rule)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            body = response.get_data()
            status = response.status_code
            allowed = {302, 401} if caller == "anonymous" else {400, 403, 404, 405, 409}
            shared = rule.startswith("/learning-agenda")  # questions are everyone's; their evidence is not
            # A button's form answers a refusal with a redirect and a message (the data check below
            # shows nothing changed); it never sends the caller into the other study.
            bounced = (method == "POST" and status == 302 and caller != "anonymous"
                       and f"/studies/{other['study_id']}/" not in response.headers["Location"] + "/")
            if status >= 500 or SECRET_WORD.encode() in body or (status not in allowed and not shared and not bounced):
                problems.append((caller, method, path, status, SECRET_WORD.encode() in body))
            if caller == "anonymous" and status == 302:
                assert "/login" in response.headers["Location"], (method, path)
    assert statuses.get(500, 0) == 0, statuses
    every = {r.rule for r in app.url_map.iter_rules() if r.endpoint != "static" and set(r.arguments) - set(WORDS)}
    assert rules == every and seen >= 5 * len(every)
    assert not problems, problems[:20]
    assert _snapshot(db, other["study_id"]) == before
