"""Insights, their evidence, A-11 drivers, and the learning-agenda questions they answer."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ._types import UTCDateTime, text_enum, utcnow
from .coding import Polarity


class A11Driver(enum.Enum):
    """OMB Circular A-11 Section 280 customer-experience drivers."""

    TRUST = "trust"
    EFFECTIVENESS = "effectiveness"
    EASE = "ease"
    EFFICIENCY = "efficiency"
    TRANSPARENCY = "transparency"
    HUMANITY = "humanity"
    EMPLOYEE_HELPFULNESS = "employee-helpfulness"
    SATISFACTION = "satisfaction"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ").capitalize()


class InsightStatus(enum.Enum):
    DRAFT = "draft"
    REVIEWED = "reviewed"
    PUBLISHED = "published"


insight_highlight = Table(
    "insight_highlight",
    Base.metadata,
    Column("insight_id", ForeignKey("insight.id", ondelete="CASCADE"), primary_key=True),
    Column("highlight_id", ForeignKey("highlight.id", ondelete="CASCADE"), primary_key=True, index=True),
)
insight_passage = Table(
    "insight_passage",
    Base.metadata,
    Column("insight_id", ForeignKey("insight.id", ondelete="CASCADE"), primary_key=True),
    Column("passage_id", ForeignKey("passage.id", ondelete="CASCADE"), primary_key=True, index=True),
)
insight_theme = Table(
    "insight_theme",
    Base.metadata,
    Column("insight_id", ForeignKey("insight.id", ondelete="CASCADE"), primary_key=True),
    Column("theme_id", ForeignKey("theme.id", ondelete="CASCADE"), primary_key=True, index=True),
)
insight_question = Table(
    "insight_question",
    Base.metadata,
    Column("insight_id", ForeignKey("insight.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "question_id",
        ForeignKey("learning_agenda_question.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class LearningAgendaQuestion(Base):
    __tablename__ = "learning_agenda_question"
    __table_args__ = (UniqueConstraint("agency", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    strategic_goal: Mapped[str] = mapped_column(Text, default="")

    insights: Mapped[list[Insight]] = relationship(secondary=insight_question, back_populates="questions",
                                                  order_by="Insight.id")

    def __repr__(self) -> str:
        return f"<LearningAgendaQuestion {self.agency} {self.number}>"


class Insight(Base):
    __tablename__ = "insight"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    statement: Mapped[str] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(String(120))
    journey_stage: Mapped[str | None] = mapped_column(String(120))
    segment: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[InsightStatus] = mapped_column(
        text_enum(InsightStatus, "insight_status"), default=InsightStatus.DRAFT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    # Every list has an order, so exports and pages read the same on SQLite and PostgreSQL
    # (PostgreSQL returns rows in no fixed order without one).
    drivers: Mapped[list[InsightDriver]] = relationship(cascade="all, delete-orphan", passive_deletes=True,
                                                        order_by="InsightDriver.driver")
    highlights: Mapped[list[Highlight]] = relationship(secondary=insight_highlight,  # noqa: F821
                                                      order_by="Highlight.id")
    passages: Mapped[list[Passage]] = relationship(secondary=insight_passage, order_by="Passage.id")  # noqa: F821
    themes: Mapped[list[Theme]] = relationship(secondary=insight_theme, order_by="Theme.id")  # noqa: F821
    questions: Mapped[list[LearningAgendaQuestion]] = relationship(
        secondary=insight_question, back_populates="insights", order_by="LearningAgendaQuestion.id"
    )

    def __repr__(self) -> str:
        return f"<Insight {self.id} study={self.study_id} {self.status.value}>"


class InsightDriver(Base):
    __tablename__ = "insight_driver"

    insight_id: Mapped[int] = mapped_column(ForeignKey("insight.id", ondelete="CASCADE"), primary_key=True)
    driver: Mapped[A11Driver] = mapped_column(text_enum(A11Driver, "a11_driver"), primary_key=True)
    polarity: Mapped[Polarity] = mapped_column(text_enum(Polarity, "insight_driver_polarity"))
