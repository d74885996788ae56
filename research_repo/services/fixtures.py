"""Reference data (learning-agenda questions, A-11 drivers) and the demo study, from fixtures/."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import (
    A11Driver,
    LearningAgendaQuestion,
    Method,
    Passage,
    Polarity,
    Role,
    Source,
    SourceKind,
    Study,
    Tag,
    User,
)
from ..schema import PROJECT_ROOT
from . import accounts, audit, coding, insights, outbox, studies

FIXTURES_DIR = PROJECT_ROOT / "fixtures"


@dataclass(frozen=True)
class DriverInfo:
    driver: A11Driver
    name: str
    statement: str


def a11_drivers(fixtures_dir: Path = FIXTURES_DIR) -> list[DriverInfo]:
    data = json.loads((fixtures_dir / "reference" / "a11_drivers.json").read_text())
    return [DriverInfo(A11Driver(d["code"]), d["name"], d["statement"]) for d in data["drivers"]]


def load_learning_agenda(session: Session, actor: User | None, fixtures_dir: Path = FIXTURES_DIR) -> int:
    """Insert or update the learning-agenda questions; returns how many were added."""
    data = json.loads((fixtures_dir / "reference" / "learning_agenda.json").read_text())
    added = 0
    for item in data["questions"]:
        question = session.scalar(
            select(LearningAgendaQuestion).where(
                LearningAgendaQuestion.agency == item["agency"], LearningAgendaQuestion.number == item["number"]
            )
        )
        if question is None:
            question = LearningAgendaQuestion(agency=item["agency"], number=item["number"])
            session.add(question)
            added += 1
        question.text = item["text"]
        question.strategic_goal = item.get("strategic_goal", "")
    session.flush()
    if added:
        audit.record(session, actor, "reference.load_learning_agenda", added=added)
    return added


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def load_demo(session: Session, fixtures_dir: Path = FIXTURES_DIR) -> dict[str, int]:
    """Load the demo users, study and sources into an empty database.

    The demo text is stored already de-identified (see fixtures/demo/study.json); every
    passage gets an index-outbox row in the same transaction, like any other write.
    """
    data = json.loads((fixtures_dir / "demo" / "study.json").read_text())
    users = {}
    for item in data["users"]:
        users[item["username"]] = accounts.create_user(
            session, None, username=item["username"], display_name=item["display_name"],
            password=item["password"], role=Role(item["role"]),
        )
    load_learning_agenda(session, users["admin"], fixtures_dir)
    spec = data["study"]
    study = studies.create_study(
        session,
        users["admin"],
        studies.StudyInput(
            name=spec["name"], method=Method(spec["method"]), service=spec["service"], purpose=spec["purpose"],
            omb_control_number=spec["omb_control_number"], omb_expires_on=_date(spec["omb_expires_on"]),
            retention_until=_date(spec["retention_until"]),
        ),
    )
    for member in spec["members"]:
        studies.set_member(session, users["admin"], study.id, member["username"], Role(member["role"]))
    passages = 0
    new_ids: list[int] = []
    for item in data["sources"]:
        canonical, spans = _canonical(item["passages"])
        source = Source(
            study_id=study.id,
            kind=SourceKind(item["kind"]),
            title=item["title"],
            collected_on=_date(item["collected_on"]),
            channel=item["channel"],
            segment=item["segment"],
            journey_stage=item["journey_stage"],
            content_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
            text=canonical,
            format="txt",
            created_by_id=users["researcher"].id,
        )
        session.add(source)
        session.flush()
        for position, (passage, (start, end)) in enumerate(zip(item["passages"], spans, strict=True)):
            row = Passage(
                source_id=source.id, position=position, speaker_role=passage["speaker"],
                text=passage["text"], start_offset=start, end_offset=end,
            )
            session.add(row)
            session.flush()
            new_ids.append(row.id)
            passages += 1
        audit.record(
            session, users["researcher"], "source.create", study_id=study.id, object_type="source",
            object_id=source.id, passages=len(item["passages"]),
        )
    session.flush()
    outbox.added(session, new_ids, study_id=study.id)
    return {"users": len(users), "studies": 1, "sources": len(data["sources"]), "passages": passages}


def _canonical(passages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """Join passages into the source's canonical text, one per paragraph, with offsets."""
    parts, spans, offset = [], [], 0
    for passage in passages:
        prefix = f"{passage['speaker']}: " if passage["speaker"] else ""
        start = offset + len(prefix)
        parts.append(prefix + passage["text"])
        spans.append((start, start + len(passage["text"])))
        offset += len(prefix) + len(passage["text"]) + 2
    return "\n\n".join(parts), spans


# A small worked example of synthesis on the demo study: (quote, tags, driver polarities).
DEMO_HIGHLIGHTS = [
    ("nobody explained why", ["Interim pay"], {"transparency": "negative"}),
    ("checks were even smaller than they should have been", ["Interim pay"], {"trust": "negative"}),
    ("The people on the phone were helpful when you reached them", ["Phone line"], {"employee-helpfulness": "positive"}),
    ("I waited 70 minutes on hold", ["Phone line"], {"efficiency": "negative"}),
]
DEMO_INSIGHT = ("Annuitants on interim pay are not told why it is lower than expected, and the phone line that "
                "could explain it is hard to reach; agents who do explain it are trusted.")


def load_demo_synthesis(session: Session) -> dict[str, int]:
    """Tags, highlights and one reviewed insight answering Q11, so the codebook, insight and
    learning-agenda pages of the demo have something to show."""
    actor = session.scalar(select(User).where(User.username == "researcher"))
    study = session.scalar(select(Study).order_by(Study.id).limit(1))
    tags = {name: coding.create_tag(session, actor, study, name) for name in ("Interim pay", "Phone line")}
    drivers = {t.driver: t for t in session.scalars(select(Tag).where(Tag.study_id == study.id,
                                                                      Tag.driver.is_not(None)))}
    passages = session.scalars(select(Passage).join(Source).where(Source.study_id == study.id)).all()
    made = []
    for quote, names, polarities in DEMO_HIGHLIGHTS:
        passage = next(p for p in passages if quote in p.text)
        codings = [coding.Coding(tags[n].id) for n in names]
        codings += [coding.Coding(drivers[d].id, Polarity(v)) for d, v in polarities.items()]
        made.append(coding.create_highlight(session, actor, passage, coding.locate(passage, quote), codings)[0])
    q11 = session.scalar(select(LearningAgendaQuestion).where(LearningAgendaQuestion.number == "Q11"))
    insight, _ = insights.create(session, actor, study, insights.InsightInput(
        statement=DEMO_INSIGHT, journey_stage="First year of annuity",
        drivers={A11Driver.TRANSPARENCY: Polarity.NEGATIVE, A11Driver.EMPLOYEE_HELPFULNESS: Polarity.POSITIVE},
        question_ids=[q11.id] if q11 else []))
    insights.add_evidence(session, actor, insight, highlight_ids=[h.id for h in made])
    insights.set_status(session, actor, insight, insights.InsightStatus.REVIEWED)
    return {"tags": len(tags), "highlights": len(made), "insights": 1}
