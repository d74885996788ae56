"""Synthesis at the size of a large study: coding, exports and the learning-agenda page.

    python benchmarks/synthesis_bench.py [--sources 10000] [--insights 300]

A study of --sources sources (one passage each, text from ../shared/data/search/
ubuntu_irc_passages.jsonl, CC BY 4.0) is written straight to a fresh SQLite database. Then,
timed through the real services:

- "tag all" of 5,000 passages (the per-step cap), four times with different tags
  (20,000 codings), and its undo;
- highlights as CSV and as XLSX (every cell through the formula guard), against an anchor
  measured in the same run: the same rows read with one SQL join and written by csv.writer;
- the REFI-QDA project (.qdpx) of the whole study, checked against Project.xsd;
- --insights insights with 5 highlights each, all answering Q11: the learning-agenda
  summary and its page (an HTTP request through the app), and the Q11 brief as .docx.

Peak memory (VmHWM) is printed at the end.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import sqlite3
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from nlp import evaldata  # noqa: E402
SHARED = evaldata.root()


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Timer:
    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t
        print(f"{self.label:<52} {self.seconds:8.2f} s", flush=True)


def build(db, n_sources: int) -> tuple[int, list[int]]:
    from sqlalchemy import insert, select

    from research_repo.models import Method, Passage, Role, Source, SourceKind
    from research_repo.services import accounts, fixtures, studies

    texts = []
    with (SHARED / "search" / "ubuntu_irc_passages.jsonl").open() as f:
        for line in itertools.islice(f, n_sources):
            texts.append(json.loads(line)["text"][:1000])
    texts = list(itertools.islice(itertools.cycle(texts), n_sources))
    with db.writing() as s:
        user = accounts.create_user(s, None, username="bench", display_name="Bench", password="bench password 1234",
                                    role=Role.ADMIN)
        fixtures.load_learning_agenda(s, user)
        study = studies.create_study(s, user, studies.StudyInput(name="Help channel", method=Method.TICKET_ANALYSIS,
                                                                 service="USAJOBS", omb_control_number="3206-0252"))
        study_id = study.id
        rows = [{"study_id": study_id, "kind": SourceKind.TICKET, "title": f"Ticket {i}", "channel": "chat",
                 "content_sha256": hashlib.sha256(f"{i}".encode()).hexdigest(), "text": t, "format": "json",
                 "redaction_summary": {}, "attributes": {}} for i, t in enumerate(texts)]
        s.execute(insert(Source), rows)
        source_ids = list(s.scalars(select(Source.id).where(Source.study_id == study_id).order_by(Source.id)))
        s.execute(insert(Passage), [{"source_id": sid, "position": 0, "speaker_role": None, "text": t,
                                     "start_offset": 0, "end_offset": len(t)} for sid, t in zip(source_ids, texts, strict=True)])
        passage_ids = list(s.scalars(select(Passage.id).join(Source).where(Source.study_id == study_id)
                                     .order_by(Passage.id)))
    return study_id, passage_ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=10_000)
    ap.add_argument("--insights", type=int, default=300)
    args = ap.parse_args()

    from lxml import etree
    from sqlalchemy import select

    from research_repo import create_app, schema
    from research_repo.extensions import get_db
    from research_repo.models import LearningAgendaQuestion, Study, User
    from research_repo.services import coding, exports, insights

    tmp = Path(tempfile.mkdtemp(prefix="synthesis-bench-"))
    app = create_app({"ENVIRONMENT": "test", "SECRET_KEY": "bench-secret-key-long-enough-0123456789",
                      "DATA_DIR": str(tmp)})
    db = get_db(app)
    schema.upgrade(db.engine)
    with Timer(f"build: {args.sources:,} sources and passages"):
        study_id, pids = build(db, args.sources)

    with db.writing() as s:
        user = s.scalar(select(User))
        study = s.get(Study, study_id)
        tags = [coding.create_tag(s, user, study, name) for name in ("Login", "Forms", "Status", "Pay")]
        tag_ids = [t.id for t in tags]
    step = 5_000
    times = []
    for n, tag_id in enumerate(tag_ids):
        chunk = pids[(n * 1_000) % len(pids):][:step] or pids[:step]
        with db.writing() as s, Timer(f"tag all: {len(chunk):,} passages, tag {n + 1}") as t:
            action = coding.bulk_tag(s, s.get(User, user.id), s.get(Study, study_id), chunk, coding.Coding(tag_id),
                                     "search")
            last_action = action.id
        times.append(t.seconds)
    with db.writing() as s, Timer("undo the last tag-all step"):
        coding.undo_bulk(s, s.get(User, user.id), s.get(Study, study_id), last_action)
    with db.writing() as s:
        coding.bulk_tag(s, s.get(User, user.id), s.get(Study, study_id), chunk, coding.Coding(tag_ids[-1]), "search")

    with db.read_session() as s:
        with Timer("highlights table (two queries)") as t_table:
            table = exports.highlights_table(s, study_id)
        with Timer("  to CSV (formula guard)") as t_csv:
            body = exports.to_csv(table)
        with Timer("  to XLSX (formula guard)"):
            xlsx = exports.to_xlsx(table)
    n_rows = len(table.rows)
    con = sqlite3.connect(tmp / "research_repo.sqlite3")
    with Timer("anchor: one SQL join + csv.writer, same rows") as t_anchor:
        out = io.StringIO()
        w = csv.writer(out)
        for row in con.execute(
                "SELECT h.id, s.id, s.title, p.id, h.start_offset, h.end_offset, "
                "substr(p.text, h.start_offset - p.start_offset + 1, h.end_offset - h.start_offset), "
                "group_concat(t.path, '; '), h.memo FROM highlight h JOIN passage p ON p.id = h.passage_id "
                "JOIN source s ON s.id = p.source_id LEFT JOIN highlight_tag ht ON ht.highlight_id = h.id "
                "LEFT JOIN tag t ON t.id = ht.tag_id WHERE s.study_id = ? GROUP BY h.id", (study_id,)):
            w.writerow(row)
    con.close()
    print(f"  {n_rows:,} highlight rows; CSV {len(body) / 1e6:.1f} MB, XLSX {len(xlsx) / 1e6:.1f} MB; "
          f"ours (table + CSV) / anchor = {(t_table.seconds + t_csv.seconds) / t_anchor.seconds:.1f}x")

    with db.read_session() as s, Timer(f"REFI-QDA project (.qdpx), {args.sources:,} sources"):
        data = exports.qdpx(s, s.get(Study, study_id))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        qde = z.read("project.qde")
    xsd = etree.XMLSchema(etree.parse(str(SHARED / "refi-qda" / "Project.xsd")))
    with Timer("  validate project.qde against Project.xsd"):
        ok = xsd.validate(etree.fromstring(qde, etree.XMLParser(huge_tree=True)))
    print(f"  {len(data) / 1e6:.1f} MB zipped, project.qde {len(qde) / 1e6:.1f} MB, valid: {ok}")

    with db.writing() as s:
        q11 = s.scalar(select(LearningAgendaQuestion).where(LearningAgendaQuestion.number == "Q11"))
        from research_repo.models import Highlight

        hids = list(s.scalars(select(Highlight.id).order_by(Highlight.id).limit(args.insights * 5)))
        actor, st = s.get(User, user.id), s.get(Study, study_id)
        with Timer(f"write {args.insights} insights, 5 highlights each"):
            for i in range(args.insights):
                ins, _ = insights.create(s, actor, st, insights.InsightInput(
                    statement=f"Insight number {i} about the help channel and what users need.",
                    question_ids=[q11.id]))
                insights.add_evidence(s, actor, ins, highlight_ids=hids[i * 5:(i + 1) * 5])
    with db.read_session() as s, Timer("learning-agenda summary (service)"):
        [summary] = [x for x in insights.learning_agenda(s, s.get(User, user.id)) if x.question.number == "Q11"]
    print(f"  Q11: {len(summary.insights)} insights, {summary.quotes:,} quotes")
    client = app.test_client()
    from tests.helpers import login  # the real sign-in form

    login(client, "bench", "bench password 1234")
    with Timer("GET /learning-agenda (HTTP through the app)"):
        response = client.get("/learning-agenda")
    assert response.status_code == 200
    with Timer("GET Q11 brief as .docx"):
        response = client.get(f"/learning-agenda/{q11.id}/brief.docx?drafts=1")
    print(f"  .docx {len(response.get_data()) / 1e6:.2f} MB")
    print(f"peak memory (VmHWM): {peak_mb():.0f} MB")
    db.dispose()


if __name__ == "__main__":
    main()
