"""Theme runs in the app: a run as a job over uploaded transcripts, the review page, review
actions that are audited and undoable, identity across runs, vectors stored at ingest, the
CLI, and access."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from research_repo import jobs
from research_repo.models import AuditEvent, PassageVector, Role, Theme, ThemeRun, ThemeStatus, theme_passage
from research_repo.search import indexer

from .helpers import csrf_token, login, settle

TOPICS = {
    "annuity": ["The interim annuity payment was smaller than the letter said.",
                "My interim annuity payments stopped for two months.",
                "They never explained how the interim annuity was computed.",
                "The annuity estimate and the interim payment did not match.",
                "I waited months for the final annuity after the interim payments."],
    "login": ["Login.gov locked me out after the security code expired.",
              "The sign in code from Login.gov never arrived on my phone.",
              "I could not sign in because Login.gov wanted a new security key.",
              "Resetting the Login.gov password took three tries and a code.",
              "The sign in page kept asking for the security code again."],
    "survivor": ["The survivor benefit form asked for the marriage certificate twice.",
                 "Filing the survivor annuity form after the death took weeks.",
                 "Nobody told me which survivor benefit form to send.",
                 "The survivor form was returned because a certificate was missing.",
                 "I mailed the survivor benefit form and heard nothing back."],
}


def transcript(n: int, planted: str = "") -> str:
    lines = []
    for topic, sentences in TOPICS.items():
        lines.append(f"Moderator: Tell me about {topic}.")
        lines.append(f"P1: {sentences[n % 5]} {sentences[(n + 2) % 5]}{planted}")
    return "\n".join(lines) + "\n"


def upload(client, study_id: int, name: str, text: str) -> None:
    page = client.get(f"/studies/{study_id}/upload")
    response = client.post(f"/studies/{study_id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview",
        "files": [(io.BytesIO(text.encode()), name)]}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)


def post(client, url: str, data: dict, page_url: str):
    page = client.get(page_url)
    return client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **data})


@pytest.fixture
def study(app, client, signed_in, make_study):
    user = signed_in("rita", Role.RESEARCHER)
    study = make_study("Annuitant interviews", user)
    for n in range(5):
        upload(client, study.id, f"interview-{n}.txt", transcript(n, " Maria Alvarez called about it." if n == 0 else ""))
    indexer.drain_all(app)
    return study


def run_themes(app, client, study, **form) -> ThemeRun:
    url = f"/studies/{study.id}/themes"
    response = post(client, f"/studies/{study.id}/themes/run", {"k": form.get("k", "")} | form, url)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert jobs.Worker(app).run(until_idle=True) >= 1
    with app.extensions["research_repo.db"].read_session() as s:
        return s.scalars(select(ThemeRun).order_by(ThemeRun.id.desc())).first()


def themes_of(db, run_id: int) -> list[Theme]:
    with db.read_session() as s:
        return list(s.scalars(select(Theme).where(Theme.run_id == run_id, Theme.status != ThemeStatus.MERGED)
                              .order_by(Theme.size.desc())))


def test_a_run_proposes_themes_with_terms_quotes_and_counts(app, client, study, db):
    run = run_themes(app, client, study, k="3")
    # Moderator questions are not evidence: 5 interviews x 3 answers.
    assert run.status.value == "done" and run.passage_count == 15 and run.quality["k"] == 3
    assert run.library_versions["scikit-learn"] and run.vector_model_id
    themes = themes_of(db, run.id)
    assert sorted(t.size for t in themes) == [5, 5, 5]
    labels = " ".join(t.label for t in themes)
    assert "annuity" in labels and ("login" in labels or "sign" in labels or "code" in labels) and "survivor" in labels
    page = client.get(f"/studies/{study.id}/themes").get_data(as_text=True)
    assert "Run " + str(run.id) in page and "By channel:" in page and "<blockquote>" in page
    assert "Passages per quarter" in page and 'aria-labelledby="map-title map-desc"' in page
    # The planted name was redacted at ingest: not in terms, labels, quotes or the page.
    assert "Alvarez" not in page and "Maria" not in page
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(PassageVector)) == 15
        assert all(1 <= len(t.quotes) <= 5 for t in themes)


def test_review_actions_are_audited_and_undoable(app, client, study, db):
    run = run_themes(app, client, study, k="3")
    url = f"/studies/{study.id}/themes?run={run.id}"
    act = f"/studies/{study.id}/themes/{run.id}/act"
    a, b, c = themes_of(db, run.id)
    assert post(client, act, {"action": "rename", "theme": a.id, "label": "Interim pay confusion"}, url).status_code == 302
    assert post(client, act, {"action": "accept", "theme": a.id}, url).status_code == 302
    assert post(client, act, {"action": "merge", "theme": b.id, "other": c.id}, url).status_code == 302
    after = {t.id: t for t in themes_of(db, run.id)}
    assert after[a.id].label == "Interim pay confusion" and after[a.id].pinned and after[a.id].status is ThemeStatus.ACCEPTED
    assert after[b.id].size == 10 and c.id not in after
    assert post(client, act, {"action": "undo"}, url).status_code == 302
    restored = {t.id: t for t in themes_of(db, run.id)}
    assert restored[b.id].size == 5 and restored[c.id].size == 5 and restored[c.id].status is ThemeStatus.PROPOSED
    with db.read_session() as s:
        members = s.scalars(select(theme_passage.c.passage_id).where(theme_passage.c.theme_id == c.id)).all()
        assert sorted(members) == sorted(s.scalars(select(theme_passage.c.passage_id).where(
            theme_passage.c.passage_id.in_(members), theme_passage.c.theme_id == c.id)).all()) and len(members) == 5
    # Split, then move one passage, then undo the move.
    assert post(client, act, {"action": "split", "theme": b.id}, url).status_code == 302
    parts = [t for t in themes_of(db, run.id) if t.id == b.id or t.id not in (a.id, b.id, c.id)]
    assert len(parts) == 2 and all(t.size for t in parts) and sum(t.size for t in parts) == 5
    with db.read_session() as s:
        passage = s.scalar(select(theme_passage.c.passage_id).where(theme_passage.c.theme_id == b.id).limit(1))
    assert post(client, act, {"action": "move", "theme": a.id, "passage": passage}, url).status_code == 302
    assert {t.id: t.size for t in themes_of(db, run.id)}[a.id] == 6
    assert post(client, act, {"action": "undo"}, url).status_code == 302
    assert {t.id: t.size for t in themes_of(db, run.id)}[a.id] == 5
    with db.read_session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("theme%"))).all()
    assert {"theme.rename", "theme.accepted", "theme.merge", "theme.undo", "theme.split", "theme.move"} <= set(actions)
    # Bad input says what to fix; nothing changes.
    response = post(client, act, {"action": "rename", "theme": a.id, "label": "   "}, url)
    assert response.status_code == 400 and "1 to 200 characters" in response.get_data(as_text=True)
    response = post(client, act, {"action": "move", "theme": a.id, "passage": 999999}, url)
    assert response.status_code == 404 and "not in this run" in response.get_data(as_text=True)


def test_a_second_run_keeps_accepted_and_named_themes(app, client, study, db):
    first = run_themes(app, client, study, k="3")
    url = f"/studies/{study.id}/themes"
    act = f"/studies/{study.id}/themes/{first.id}/act"
    named = themes_of(db, first.id)[0]
    post(client, act, {"action": "rename", "theme": named.id, "label": "Our own name"}, url)
    post(client, act, {"action": "accept", "theme": named.id}, url)
    upload(client, study.id, "interview-9.txt", transcript(9, " That was last spring."))
    settle(app)  # the worker places them; the index writer indexes them
    with db.read_session() as s:  # the new passages got vectors at ingest, before any run
        assert s.scalar(select(func.count()).select_from(PassageVector)) == 15 + 6
        # ... and the 3 answers joined the accepted theme of the finished run, with a confidence.
        placed = s.execute(select(theme_passage.c.similarity, theme_passage.c.themed).where(
            theme_passage.c.theme_id == named.id)).all()
        assert len(placed) == 5 + 3 and s.get(Theme, named.id).size == 8
        assert all(sim is not None for sim, _themed in placed)
    second = run_themes(app, client, study)
    assert second.previous_run_id == first.id and second.quality["chosen"] == "previous run"
    # The 15 clustered passages all stay; of the 3 placed at ingest into the only accepted
    # theme, the 2 answers on other topics move to their own themes.
    assert second.passage_count == 18 and second.changed_count == 2
    successor = [t for t in themes_of(db, second.id) if t.predecessor_id == named.id]
    assert len(successor) == 1 and successor[0].label == "Our own name"
    assert successor[0].status is ThemeStatus.ACCEPTED and successor[0].size == 6


def test_cli_runs_and_lists_themes(app, study):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["themes", "run", "--study", "Annuitant interviews", "--by", "rita", "--k", "3"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Theme run \d+: 15 passages, 3 themes \(given\)", result.output)
    result = runner.invoke(args=["themes", "list", "--study", "Annuitant interviews"])
    assert result.exit_code == 0 and result.output.count("\tproposed\t5\t") == 3
    result = runner.invoke(args=["themes", "run", "--study", "Annuitant interviews", "--by", "rita", "--k", "2",
                                 "--query", "annuity OR login OR sign", "--cold"])
    assert result.exit_code == 0 and re.search(r"Theme run \d+: 1[0-4] passages, 2 themes", result.output), result.output
    result = runner.invoke(args=["themes", "run", "--study", "Nope", "--by", "rita"])
    assert result.exit_code != 0 and "Nope" in result.output


def test_too_few_passages_and_bad_k_are_explained(app, client, signed_in, make_study):
    user = signed_in("rita", Role.RESEARCHER)
    study = make_study("Tiny", user)
    upload(client, study.id, "one.txt", "P1: Only one thing to say.\n")
    url = f"/studies/{study.id}/themes"
    response = post(client, f"/studies/{study.id}/themes/run", {"k": ""}, url)
    assert response.status_code == 400 and "at least 10 passages" in response.get_data(as_text=True)
    response = post(client, f"/studies/{study.id}/themes/run", {"k": "three"}, url)
    assert response.status_code == 400 and "whole number" in response.get_data(as_text=True)


def test_viewers_read_themes_but_cannot_run_or_change_them(app, client, study, make_user, db):
    run = run_themes(app, client, study, k="3")
    make_user("vera", Role.VIEWER)
    from research_repo.services import studies as study_service
    with db.writing() as s:
        study_service.set_member(s, s.merge(make_user("owner2", Role.ADMIN)), study.id, "vera", Role.VIEWER)
    with app.test_client() as vera:
        assert login(vera, "vera").status_code == 302
        page = vera.get(f"/studies/{study.id}/themes")
        assert page.status_code == 200 and "Run themes" not in page.get_data(as_text=True)
        theme = themes_of(db, run.id)[0]
        response = post(vera, f"/studies/{study.id}/themes/{run.id}/act", {"action": "accept", "theme": theme.id},
                        f"/studies/{study.id}/themes")
        assert response.status_code == 403
    make_user("olga", Role.RESEARCHER)
    with app.test_client() as olga:
        assert login(olga, "olga").status_code == 302
        assert olga.get(f"/studies/{study.id}/themes").status_code in (403, 404)


def test_a_run_on_sentence_embeddings(app, study, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["themes", "run", "--study", "Annuitant interviews", "--by", "rita", "--k", "3",
                                 "--vectors", "minilm"])
    assert result.exit_code == 0, result.output
    with db.read_session() as s:
        run = s.scalars(select(ThemeRun).order_by(ThemeRun.id.desc())).first()
        assert run.parameters["vectors"] == "minilm" and run.quality["vector_dim"] == 384
    assert sorted(t.size for t in themes_of(db, run.id)) == [5, 5, 5]
    labels = " ".join(t.label for t in themes_of(db, run.id))
    assert "annuity" in labels and "survivor" in labels


def test_a_run_over_a_search(app, client, study, db):
    query = "annuity OR login OR sign"
    expected = client.get("/api/v1/search", query_string={"q": query, "speaker": "P1"}).get_json()["total"]
    assert 10 <= expected < 15  # some survivor answers do not match
    run = run_themes(app, client, study, k="2", query=query)
    assert run.passage_count == expected
    with db.read_session() as s:
        texts = s.scalars(select(theme_passage.c.passage_id).join(Theme, Theme.id == theme_passage.c.theme_id)
                          .where(Theme.run_id == run.id)).all()
    assert len(texts) == expected
    url = f"/studies/{study.id}/themes"
    response = post(client, f"/studies/{study.id}/themes/run", {"k": "", "query": "zebra"}, url)
    assert response.status_code == 400 and "No passage of this study matches" in response.get_data(as_text=True)



NEW_TOPIC = ["I changed my bank and the direct deposit went to the closed account.",
             "The direct deposit form for the new bank account was rejected.",
             "After switching banks the deposit bounced back for weeks.",
             "Updating the routing number for direct deposit took three calls.",
             "My deposit went to the old bank account after I moved it."]


def test_passages_far_from_accepted_themes_become_candidate_themes(app, client, study, db):
    run = run_themes(app, client, study, k="3")
    url, act = f"/studies/{study.id}/themes", f"/studies/{study.id}/themes/{run.id}/act"
    accepted = themes_of(db, run.id)[0]
    post(client, act, {"action": "accept", "theme": accepted.id}, url)
    for n in range(4):
        lines = "".join(f"Moderator: And then?\nP1: {NEW_TOPIC[(n + i) % 5]} Case {n}-{i}.\n" for i in range(3))
        upload(client, study.id, f"deposit-{n}.txt", lines)
    settle(app)
    after = {t.id: t for t in themes_of(db, run.id)}
    candidates = [t for t in after.values() if t.scores.get("candidate")]
    assert candidates and all(t.status is ThemeStatus.PROPOSED for t in candidates)
    assert "deposit" in " ".join(t.label for t in candidates)
    assert sum(t.size for t in candidates) >= 10 and after[accepted.id].size == 5
    page = client.get(url).get_data(as_text=True)
    assert "Proposed " in page and "not yet themed" in page
    assert post(client, act, {"action": "undo"}, url).status_code == 302  # back into the accepted theme, flagged
    restored = {t.id: t for t in themes_of(db, run.id)}
    assert not [t for t in restored.values() if t.scores.get("candidate")] and restored[accepted.id].size == 5 + 12


def test_many_themes_are_grouped_on_the_page(app, client, signed_in, make_study, db):
    """More than 40 themes: the page lists at most 40 first-level groups with their themes."""
    import csv as csv_module
    from pathlib import Path

    user = signed_in("rita", Role.RESEARCHER)
    study = make_study("Bank tickets", user)
    banking = Path(__file__).resolve().parent / "data" / "banking77" / "mixed_100.csv"  # tests/data/SOURCES.md
    with banking.open(encoding="utf-8") as fh:
        texts = [row["text"] for row in csv_module.DictReader(fh)]  # 100 queries, many intents
    body = "ticket_id,description\n" + "".join(f'{i},"{t.replace(chr(34), "")}"\n' for i, t in enumerate(texts))
    page = client.get(f"/studies/{study.id}/upload")
    response = client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "ticket",
        "files": [(io.BytesIO(body.encode()), "tickets.csv")]}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    jobs.wait_background(app)  # the web import runs on a background thread
    indexer.drain_all(app)
    run = run_themes(app, client, study, k="45")
    assert run.quality["k"] == 45 and run.quality["groups"] == 40
    with db.read_session() as s:
        groups = s.scalars(select(Theme).where(Theme.run_id == run.id, Theme.parent_id.is_(None))).all()
        fine = s.scalars(select(Theme).where(Theme.run_id == run.id, Theme.parent_id.is_not(None))).all()
    assert len(groups) == 40 and len(fine) == 45 and sum(g.size for g in groups) == run.passage_count
    html = client.get(f"/studies/{study.id}/themes").get_data(as_text=True)
    assert html.count('class="rr-group"') == 40 and html.count('class="rr-theme"') == 45


def _theme_facet(client, study_id: int) -> dict[str, int]:
    body = client.get("/api/v1/search", query_string={"q": "", "study": study_id}).get_json()
    return {v["value"]: v["count"] for f in body["facets"] if f["name"] == "theme" for v in f["values"]}


def test_review_actions_reach_the_theme_facet_without_a_rebuild(app, client, study, db):
    """Accept, rename, merge, move, reject and undo each change what the theme facet shows once
    the index writer drains the outbox; nobody runs `reindex`."""
    from research_repo.search import indexer

    run = run_themes(app, client, study, k="3")
    url, act = f"/studies/{study.id}/themes", f"/studies/{study.id}/themes/{run.id}/act"
    first, second, third = themes_of(db, run.id)
    settle(app)
    assert _theme_facet(client, study.id) == {}  # proposed themes are not in the facet
    post(client, act, {"action": "accept", "theme": first.id}, url)
    assert indexer.pending(app) == first.size  # the accept wrote one outbox row per passage
    settle(app)
    assert _theme_facet(client, study.id) == {first.label: first.size}
    post(client, act, {"action": "rename", "theme": first.id, "label": "Waiting on interim pay"}, url)
    settle(app)
    assert _theme_facet(client, study.id) == {"Waiting on interim pay": first.size}
    post(client, act, {"action": "merge", "theme": first.id, "other": str(second.id)}, url)
    settle(app)
    assert _theme_facet(client, study.id) == {"Waiting on interim pay": first.size + second.size}
    with db.read_session() as s:
        moved = s.scalar(select(theme_passage.c.passage_id).where(theme_passage.c.theme_id == third.id).limit(1))
    post(client, act, {"action": "move", "theme": first.id, "passage": str(moved)}, url)
    settle(app)
    assert _theme_facet(client, study.id) == {"Waiting on interim pay": first.size + second.size + 1}
    post(client, act, {"action": "undo"}, url)  # the move
    settle(app)
    assert _theme_facet(client, study.id) == {"Waiting on interim pay": first.size + second.size}
    post(client, act, {"action": "reject", "theme": first.id}, url)
    settle(app)
    assert _theme_facet(client, study.id) == {}
    assert indexer.consistency(app) == (set(), set())


def test_a_new_run_replaces_the_previous_runs_labels_in_the_facet(app, client, study, db):
    first = run_themes(app, client, study, k="3")
    act = f"/studies/{study.id}/themes/{first.id}/act"
    named = themes_of(db, first.id)[0]
    post(client, act, {"action": "rename", "theme": named.id, "label": "Old name"}, f"/studies/{study.id}/themes")
    post(client, act, {"action": "accept", "theme": named.id}, f"/studies/{study.id}/themes")
    settle(app)
    assert "Old name" in _theme_facet(client, study.id)
    second = run_themes(app, client, study, k="3", cold="1")  # a cold run: nothing carried over
    settle(app)
    assert second.id != first.id and _theme_facet(client, study.id) == {}


def test_a_theme_run_whose_worker_died_finishes_or_fails_with_its_job(app, client, study, db):
    """A killed worker leaves the run's job running; once its lease is out the next worker
    takes it back and the run finishes. Lost too often, the run fails with a reason and the
    study accepts a new run."""
    from datetime import timedelta

    from sqlalchemy import update

    from research_repo.models import Job, JobStatus, ThemeRunStatus

    settle(app)

    def lose_worker():
        job = jobs.claim_next(app, "gone-host:4242:1")
        with db.writing() as s:
            s.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=jobs._now() - timedelta(hours=1)))
        return job.id

    url = f"/studies/{study.id}/themes"
    assert post(client, f"/studies/{study.id}/themes/run", {"k": "3"}, url).status_code == 302
    lose_worker()
    refused = post(client, f"/studies/{study.id}/themes/run", {"k": "3"}, url)
    assert refused.status_code == 409 and "has not finished yet" in refused.get_data(as_text=True)
    assert jobs.Worker(app).run(until_idle=True) == 1
    with db.read_session() as s:
        run = s.scalars(select(ThemeRun).order_by(ThemeRun.id.desc())).first()
    assert run.status is ThemeRunStatus.DONE and run.quality["k"] == 3

    assert post(client, f"/studies/{study.id}/themes/run", {"k": "3"}, url).status_code == 302
    for _ in range(jobs.MAX_ATTEMPTS):
        job_id = lose_worker()
    assert jobs.run_one(app) is None
    with db.read_session() as s:
        run = s.scalars(select(ThemeRun).order_by(ThemeRun.id.desc())).first()
        assert s.get(Job, job_id).status is JobStatus.FAILED
    assert run.status is ThemeRunStatus.FAILED and "stopped several times" in run.error
    assert "stopped several times" in client.get(url + f"?run={run.id}").get_data(as_text=True)
    assert post(client, f"/studies/{study.id}/themes/run", {"k": "3"}, url).status_code == 302
