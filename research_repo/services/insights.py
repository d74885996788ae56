"""Insights (a statement backed by evidence: highlights, passages, themes), their A-11
drivers and learning-agenda questions, the draft -> reviewed -> published workflow, and the
evidence chain question -> insights -> quotes -> sources -> study."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import access
from ..models import (
    A11Driver,
    Highlight,
    HighlightTag,
    Insight,
    InsightDriver,
    InsightStatus,
    LearningAgendaQuestion,
    Passage,
    Polarity,
    Source,
    Study,
    Tag,
    Theme,
    User,
    insight_highlight,
    insight_passage,
    insight_question,
    insight_theme,
)
from ..models._types import utcnow
from . import audit
from .coding import get_highlight, get_passage, get_theme, highlight_text
from .inputs import free_text
from .errors import Conflict, NotFound, PermissionDenied, ValidationError

THIN_INSIGHTS = 2  # a question with fewer published-or-reviewed insights than this has thin evidence
THIN_QUOTES = 3


@dataclass
class InsightInput:
    statement: str
    service: str = ""
    journey_stage: str = ""
    segment: str = ""
    drivers: dict[A11Driver, Polarity] = field(default_factory=dict)
    question_ids: list[int] = field(default_factory=list)


@dataclass
class Quote:
    text: str
    passage_id: int
    source_id: int
    source_title: str
    channel: str | None
    kind: str
    study_id: int
    study_name: str
    omb_control_number: str | None
    via: str  # "highlight", "passage" or "theme"
    highlight_id: int | None = None
    theme_id: int | None = None
    tags: list[str] = field(default_factory=list)


def _short(value: str, limit: int, what: str) -> str | None:
    cleaned, _ = free_text(value, limit, what)
    return cleaned or None


def _questions(session: Session, ids: list[int]) -> list[LearningAgendaQuestion]:
    if not ids:
        return []
    found = list(session.scalars(select(LearningAgendaQuestion).where(LearningAgendaQuestion.id.in_(ids))))
    if len(found) != len(set(ids)):
        raise ValidationError("One of the learning-agenda questions does not exist.", field="questions")
    return found


def _apply(session: Session, insight: Insight, data: InsightInput) -> int:
    statement, replaced = free_text(data.statement, 2000, "statement", "statement")
    if len(statement) < 10:
        raise ValidationError("Write the insight as a full sentence (at least 10 characters).", field="statement")
    insight.statement = statement
    insight.service = _short(data.service, 120, "service")
    insight.journey_stage = _short(data.journey_stage, 120, "journey stage")
    insight.segment = _short(data.segment, 120, "customer segment")
    have = {d.driver: d for d in insight.drivers}
    for driver, d in have.items():
        if driver not in data.drivers:
            insight.drivers.remove(d)
    for driver, polarity in data.drivers.items():
        if driver in have:
            have[driver].polarity = polarity
        else:
            insight.drivers.append(InsightDriver(driver=driver, polarity=polarity))
    insight.questions = _questions(session, data.question_ids)
    return replaced


def create(session: Session, actor: User, study: Study, data: InsightInput) -> tuple[Insight, int]:
    insight = Insight(study_id=study.id, statement="", created_by_id=actor.id, service=None)
    session.add(insight)
    replaced = _apply(session, insight, data)
    if not insight.service:
        insight.service = study.service
    session.flush()
    audit.record(session, actor, "insight.create", study_id=study.id, object_type="insight", object_id=insight.id,
                 drivers=[d.driver.value for d in insight.drivers], questions=[q.id for q in insight.questions])
    return insight, replaced


def update(session: Session, actor: User, insight: Insight, data: InsightInput) -> int:
    _editable(insight)
    replaced = _apply(session, insight, data)
    session.flush()
    audit.record(session, actor, "insight.update", study_id=insight.study_id, object_type="insight",
                 object_id=insight.id)
    return replaced


def _editable(insight: Insight) -> None:
    if insight.status is InsightStatus.PUBLISHED:
        raise Conflict("This insight is published; return it to draft before changing it.")


def get(session: Session, study_id: int, insight_id: int | None) -> Insight:
    insight = session.get(Insight, insight_id) if insight_id else None
    if insight is None or insight.study_id != study_id:
        raise NotFound("No such insight in this study.")
    return insight


def add_evidence(session: Session, actor: User, insight: Insight, *, highlight_ids=(), passage_ids=(),
                 theme_ids=()) -> int:
    """Link highlights, passages or themes of the insight's study; returns how many were new."""
    _editable(insight)
    sid = insight.study_id
    added = 0
    for ids, have, load in ((highlight_ids, insight.highlights, lambda i: get_highlight(session, sid, i)),
                            (passage_ids, insight.passages, lambda i: get_passage(session, sid, i)[0]),
                            (theme_ids, insight.themes, lambda i: get_theme(session, sid, i))):
        for object_id in ids:
            item = load(object_id)
            if item not in have:
                have.append(item)
                added += 1
    session.flush()
    if added:
        audit.record(session, actor, "insight.add_evidence", study_id=insight.study_id, object_type="insight",
                     object_id=insight.id, highlights=list(highlight_ids), passages=list(passage_ids),
                     themes=list(theme_ids))
    return added


def remove_evidence(session: Session, actor: User, insight: Insight, kind: str, object_id: int) -> None:
    _editable(insight)
    collection = {"highlight": insight.highlights, "passage": insight.passages, "theme": insight.themes}.get(kind)
    if collection is None:
        raise ValidationError("Unknown kind of evidence.")
    for item in list(collection):
        if item.id == object_id:
            collection.remove(item)
            session.flush()
            audit.record(session, actor, "insight.remove_evidence", study_id=insight.study_id,
                         object_type="insight", object_id=insight.id, kind=kind, removed=object_id)
            return
    raise NotFound("That is not evidence for this insight.")


def evidence_count(insight: Insight) -> int:
    return len(insight.highlights) + len(insight.passages) + len(insight.themes)


def set_status(session: Session, actor: User, insight: Insight, status: InsightStatus) -> Insight:
    """draft -> reviewed -> published, and back to draft from either. Reviewing needs evidence;
    publishing needs a researcher on the study. Who and when are kept for each step."""
    current = insight.status
    allowed = {
        InsightStatus.DRAFT: {InsightStatus.REVIEWED},
        InsightStatus.REVIEWED: {InsightStatus.PUBLISHED, InsightStatus.DRAFT},
        InsightStatus.PUBLISHED: {InsightStatus.DRAFT},
    }[current]
    if status not in allowed:
        raise Conflict(f"A {current.value} insight cannot become {status.value} directly.")
    if status is InsightStatus.REVIEWED and evidence_count(insight) == 0:
        raise ValidationError("Add at least one quote, passage or theme as evidence before marking it reviewed.")
    if status is InsightStatus.PUBLISHED and not access.can(session, actor, access.Action.EDIT, insight.study_id):
        raise PermissionDenied("Only a researcher on the study can publish an insight.")
    now = utcnow()
    if status is InsightStatus.REVIEWED:
        insight.reviewed_at, insight.reviewed_by_id = now, actor.id
    elif status is InsightStatus.PUBLISHED:
        insight.published_at, insight.published_by_id = now, actor.id
    insight.status = status
    session.flush()
    audit.record(session, actor, "insight.status", study_id=insight.study_id, object_type="insight",
                 object_id=insight.id, status=status.value)
    return insight


def delete(session: Session, actor: User, insight: Insight) -> None:
    _editable(insight)
    session.delete(insight)
    session.flush()
    audit.record(session, actor, "insight.delete", study_id=insight.study_id, object_type="insight",
                 object_id=insight.id)


def list_for_study(session: Session, study_id: int) -> list[Insight]:
    return list(session.scalars(select(Insight).where(Insight.study_id == study_id).order_by(Insight.id.desc())))


def preload(session: Session, rows: list[Insight]) -> None:
    """Load the evidence of many insights (highlights with their passages' text and tags,
    passages, themes) in a few queries instead of a few per insight."""
    if rows:
        list(session.scalars(select(Insight).where(Insight.id.in_([i.id for i in rows])).options(
            selectinload(Insight.highlights).selectinload(Highlight.passage).undefer(Passage.text),
            selectinload(Insight.highlights).selectinload(Highlight.tags).selectinload(HighlightTag.tag),
            selectinload(Insight.passages).undefer(Passage.text), selectinload(Insight.themes),
            selectinload(Insight.drivers), selectinload(Insight.questions))))


def evidence_sources(session: Session, insight_ids: list[int], per_theme: int = 3) -> dict[int, list[tuple[str, str | None]]]:
    """(study name, channel) of each quote of each insight, as ``quotes`` would list them,
    from three queries whatever the number of insights."""
    out: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    if not insight_ids:
        return out
    base = select(Study.name, Source.channel).join(Source, Source.study_id == Study.id)
    rows = session.execute(base.add_columns(insight_highlight.c.insight_id)
                           .join(Passage, Passage.source_id == Source.id)
                           .join(Highlight, Highlight.passage_id == Passage.id)
                           .join(insight_highlight, insight_highlight.c.highlight_id == Highlight.id)
                           .where(insight_highlight.c.insight_id.in_(insight_ids)))
    rows = list(rows) + list(session.execute(base.add_columns(insight_passage.c.insight_id)
                             .join(Passage, Passage.source_id == Source.id)
                             .join(insight_passage, insight_passage.c.passage_id == Passage.id)
                             .where(insight_passage.c.insight_id.in_(insight_ids))))
    for name, channel, iid in rows:
        out[iid].append((name, channel))
    theme_rows = session.execute(select(insight_theme.c.insight_id, Theme.quotes).join(
        Theme, Theme.id == insight_theme.c.theme_id).where(insight_theme.c.insight_id.in_(insight_ids))).all()
    wanted = {pid for _, q in theme_rows for pid in (q or [])[:per_theme]}
    where = dict((pid, (name, channel)) for pid, name, channel in session.execute(
        select(Passage.id, Study.name, Source.channel).join(Source, Source.id == Passage.source_id)
        .join(Study, Study.id == Source.study_id).where(Passage.id.in_(wanted)))) if wanted else {}
    for iid, q in theme_rows:
        out[iid].extend(where[pid] for pid in (q or [])[:per_theme] if pid in where)
    return out


def quotes(session: Session, insight: Insight, per_theme: int = 3) -> list[Quote]:
    """The insight's evidence as quotes, each with its source and study."""
    items: list[tuple[str, Passage, str, int | None, int | None, list[str]]] = []
    for h in insight.highlights:
        items.append((highlight_text(h), h.passage, "highlight", h.id, None, [t.tag.path for t in h.tags]))
    for p in insight.passages:
        items.append((p.text, p, "passage", None, None, []))
    for t in insight.themes:
        ids = (t.quotes or [])[:per_theme]
        rows = {p.id: p for p in session.scalars(select(Passage).where(Passage.id.in_(ids)))} if ids else {}
        for pid in ids:
            if pid in rows:
                items.append((rows[pid].text, rows[pid], "theme", None, t.id, [t.label]))
    sources = {s.id: s for s in session.scalars(select(Source).where(Source.id.in_({p.source_id for _, p, *_ in items})))}
    study = session.get(Study, insight.study_id)
    out = []
    for text, p, via, hid, tid, tags in items:
        src = sources[p.source_id]
        out.append(Quote(text=text, passage_id=p.id, source_id=src.id, source_title=src.title, channel=src.channel,
                         kind=src.kind.value, study_id=study.id, study_name=study.name,
                         omb_control_number=study.omb_control_number, via=via, highlight_id=hid, theme_id=tid,
                         tags=tags))
    return out


# ---------------------------------------------------------------- learning agenda

@dataclass
class QuestionSummary:
    question: LearningAgendaQuestion
    insights: list[Insight]
    quotes: int
    by_study: list[tuple[str, int]]
    by_channel: list[tuple[str, int]]

    @property
    def thin(self) -> bool:
        return len(self.insights) < THIN_INSIGHTS or self.quotes < THIN_QUOTES


def questions(session: Session) -> list[LearningAgendaQuestion]:
    return list(session.scalars(select(LearningAgendaQuestion).order_by(LearningAgendaQuestion.agency,
                                                                         LearningAgendaQuestion.id)))


def learning_agenda(session: Session, user: User, only: LearningAgendaQuestion | None = None) -> list[QuestionSummary]:
    """Each question with the insights answering it from studies ``user`` may read, and its
    evidence counted by study and by channel (one count per quote)."""
    readable = access.readable_study_ids(user)
    rows = session.execute(
        select(insight_question.c.question_id, Insight).join(Insight, Insight.id == insight_question.c.insight_id)
        .where(Insight.study_id.in_(readable)).order_by(Insight.id)).all()
    by_q: dict[int, list[Insight]] = defaultdict(list)
    for qid, insight in rows:
        by_q[qid].append(insight)
    out = []
    wanted = list(by_q.get(only.id, [])) if only else [i for rows_ in by_q.values() for i in rows_]
    sources = evidence_sources(session, list({i.id for i in wanted}))
    for q in ([only] if only else questions(session)):
        insights_ = by_q.get(q.id, [])
        studies, channels, n = Counter(), Counter(), 0
        for insight in insights_:
            for study_name, channel in sources.get(insight.id, []):
                studies[study_name] += 1
                channels[channel or "unknown"] += 1
                n += 1
        out.append(QuestionSummary(q, insights_, n, studies.most_common(), channels.most_common()))
    return out


def create_question(session: Session, actor: User, agency: str, number: str, text: str,
                    strategic_goal: str = "") -> LearningAgendaQuestion:
    if not actor.role.can_create_study():
        raise PermissionDenied("Only researchers and administrators can add learning-agenda questions.")
    from .inputs import AGENCY, QUESTION_NUMBER, code

    agency = code(agency, AGENCY, "agency", "OPM (capital letters)", "agency", required=True)
    number = code(number, QUESTION_NUMBER, "question number", "Q12 or 3.2", "number", required=True)
    text, _ = free_text(text, 2000, "question", "text")
    if not text:
        raise ValidationError("Write the question.", field="text")
    goal, _ = free_text(strategic_goal, 2000, "strategic goal", "strategic_goal")
    if session.scalar(select(LearningAgendaQuestion.id).where(LearningAgendaQuestion.agency == agency,
                                                              LearningAgendaQuestion.number == number)):
        raise Conflict("This agency already has a question with that number.", field="number")
    q = LearningAgendaQuestion(agency=agency[:40], number=number[:20], text=text, strategic_goal=goal)
    session.add(q)
    session.flush()
    audit.record(session, actor, "question.create", object_type="question", object_id=q.id)
    return q


def driver_balance(session: Session, user: User) -> dict[str, dict[str, tuple[int, int]]]:
    """Per service, per A-11 driver: (positive, negative) codings of quotes in readable studies."""
    readable = access.readable_study_ids(user)
    rows = session.execute(
        select(Study.service, Tag.driver, HighlightTag.polarity)
        .join(Tag, Tag.id == HighlightTag.tag_id).join(Highlight, Highlight.id == HighlightTag.highlight_id)
        .join(Study, Study.id == Tag.study_id)
        .where(Tag.driver.is_not(None), Tag.study_id.in_(readable))).all()
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: {d.value: [0, 0] for d in A11Driver})
    for service, driver, polarity in rows:
        out[service][driver][0 if polarity is Polarity.POSITIVE else 1] += 1
    return {svc: {d: (v[0], v[1]) for d, v in drivers.items()} for svc, drivers in sorted(out.items())}
