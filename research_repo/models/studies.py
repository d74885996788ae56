"""Studies, their sources (documents and records) and the passages cut from them."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from ..db import Base
from ._types import UTCDateTime, text_enum, utcnow


class Method(enum.Enum):
    INTERVIEWS = "interviews"
    FOCUS_GROUPS = "focus-groups"
    USABILITY = "usability-testing"
    SURVEY = "survey"
    TICKET_ANALYSIS = "ticket-analysis"
    OBSERVATION = "observation"
    MIXED = "mixed-methods"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ").capitalize()


class SourceKind(enum.Enum):
    INTERVIEW = "interview"
    FOCUS_GROUP = "focus-group"
    USABILITY = "usability"
    TICKET = "ticket"
    SURVEY = "survey"
    OBSERVATION = "observation"

    @property
    def label(self) -> str:
        return self.value.replace("-", " ").capitalize()


class Study(Base):
    __tablename__ = "study"
    __table_args__ = (
        CheckConstraint(
            "omb_expires_on IS NULL OR omb_control_number IS NOT NULL", name="omb_expiry_needs_number"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique among the studies a person can read, not globally: refusing a name that only an
    # unreadable study has would confirm that study exists (services.studies).
    name: Mapped[str] = mapped_column(String(200), index=True)
    purpose: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[Method] = mapped_column(text_enum(Method, "study_method"))
    service: Mapped[str] = mapped_column(String(120), index=True)
    # PRA clearance, e.g. "3206-0001"; respondents were promised anonymity under it.
    omb_control_number: Mapped[str | None] = mapped_column(String(20))
    omb_expires_on: Mapped[date | None] = mapped_column(Date)
    retention_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    memberships: Mapped[list[StudyMembership]] = relationship(  # noqa: F821
        back_populates="study", cascade="all, delete-orphan", passive_deletes=True
    )
    sources: Mapped[list[Source]] = relationship(
        back_populates="study",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Source.id",
    )

    def __repr__(self) -> str:
        return f"<Study {self.id} {self.name!r}>"


class Source(Base):
    """One uploaded document or one imported record (ticket, survey response).
    Only de-identified text and non-identifying metadata are stored."""

    __tablename__ = "source"
    __table_args__ = (
        # Re-importing the same file is a no-op: the content hash is unique per study.
        UniqueConstraint("study_id", "content_sha256"),
        Index("ix_source_study_id_kind", "study_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    kind: Mapped[SourceKind] = mapped_column(text_enum(SourceKind, "source_kind"))
    # A de-identified title; never the uploaded file name, which can carry a name.
    title: Mapped[str] = mapped_column(String(300))
    collected_on: Mapped[date | None] = mapped_column(Date)
    channel: Mapped[str | None] = mapped_column(String(60))
    segment: Mapped[str | None] = mapped_column(String(120))
    journey_stage: Mapped[str | None] = mapped_column(String(120))
    # A keyed hash (HMAC-SHA256) of the file or record, so re-imports are no-ops; a plain hash
    # of a short identified record could be confirmed by guessing.
    content_sha256: Mapped[str] = mapped_column(String(64))
    # The canonical de-identified text; passages are slices of it (start_offset:end_offset).
    text: Mapped[str] = deferred(mapped_column(Text, nullable=False, default="", server_default=""))
    format: Mapped[str | None] = mapped_column(String(10))
    # The export a record came from, and its number there.
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id", ondelete="SET NULL"), index=True)
    record_number: Mapped[int | None] = mapped_column(Integer)
    # A keyed hash of an imported record's whole content, when the export has an id column:
    # a later import of the same id with another version replaces it (services.ingest.imports).
    record_version: Mapped[str | None] = mapped_column(String(64))
    # Counts and offsets of replacements by kind; never the replaced values.
    redaction_summary: Mapped[dict] = mapped_column(JSON, default=dict)
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    study: Mapped[Study] = relationship(back_populates="sources")
    passages: Mapped[list[Passage]] = relationship(
        back_populates="source",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Passage.position",
    )

    def __repr__(self) -> str:
        return f"<Source {self.id} study={self.study_id} {self.kind.value}>"


class Passage(Base):
    """The unit of search, coding and clustering: de-identified text with offsets
    into the source's canonical (de-identified) text."""

    __tablename__ = "passage"
    __table_args__ = (
        UniqueConstraint("source_id", "position"),
        CheckConstraint("start_offset >= 0 AND end_offset >= start_offset", name="offsets_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    speaker_role: Mapped[str | None] = mapped_column(String(40))
    text: Mapped[str] = deferred(mapped_column(Text))
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)

    source: Mapped[Source] = relationship(back_populates="passages")

    def __repr__(self) -> str:
        return f"<Passage {self.id} source={self.source_id} #{self.position}>"


class StudyTerm(Base):
    """A study's de-identification terms. ``roster``: a participant's name, stored only as a
    keyed hash (``digest``), so every mention is redacted without the name being kept.
    ``keep``: a term the study never redacts (``value``), such as a program's name the
    engine took for a person."""

    __tablename__ = "study_term"
    __table_args__ = (
        UniqueConstraint("study_id", "kind", "digest", name="uq_study_term_digest"),
        UniqueConstraint("study_id", "kind", "value", name="uq_study_term_value"),
        CheckConstraint("kind IN ('roster', 'keep')", name="kind"),
        CheckConstraint("(kind = 'roster') = (digest IS NOT NULL AND value IS NULL)", name="roster_is_hashed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
