"""Theme runs (one clustering of a study's passages) and the themes they propose."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, false, CheckConstraint, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from ..db import Base
from ._types import UTCDateTime, text_enum, utcnow


class ThemeRunStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ThemeStatus(enum.Enum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    MERGED = "merged"
    REJECTED = "rejected"


class ThemeRun(Base):
    __tablename__ = "theme_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    status: Mapped[ThemeRunStatus] = mapped_column(
        text_enum(ThemeRunStatus, "theme_run_status"), default=ThemeRunStatus.QUEUED
    )
    # Everything needed to reproduce the run: parameters, library versions, seed.
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    library_versions: Mapped[dict] = mapped_column(JSON, default=dict)
    random_state: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    previous_run_id: Mapped[int | None] = mapped_column(ForeignKey("theme_run.id", ondelete="SET NULL"))
    vector_model_id: Mapped[int | None] = mapped_column(ForeignKey("vector_model.id", ondelete="SET NULL"))
    passage_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Earlier passages that are no longer in the continuation of their theme (warm runs).
    changed_count: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)

    themes: Mapped[list[Theme]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True,
        foreign_keys="Theme.run_id", order_by="Theme.id",
    )

    def __repr__(self) -> str:
        return f"<ThemeRun {self.id} study={self.study_id} {self.status.value}>"


class Theme(Base):
    __tablename__ = "theme"
    __table_args__ = (CheckConstraint("size >= 0", name="size_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("theme_run.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    top_terms: Mapped[list] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(Integer, default=0)
    scores: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[ThemeStatus] = mapped_column(
        text_enum(ThemeStatus, "theme_status"), default=ThemeStatus.PROPOSED
    )
    # Fine clusters sit under a first-level theme.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("theme.id", ondelete="CASCADE"), index=True)
    # Identity across runs: the matching theme of the previous run.
    predecessor_id: Mapped[int | None] = mapped_column(ForeignKey("theme.id", ondelete="SET NULL"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("theme.id", ondelete="SET NULL"))
    # Renamed or tagged by a person: a later run keeps its name and status.
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Representative passage ids, best first.
    quotes: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    centroid: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))

    run: Mapped[ThemeRun] = relationship(back_populates="themes", foreign_keys=[run_id])

    def __repr__(self) -> str:
        return f"<Theme {self.id} {self.label!r} {self.status.value}>"


class VectorModel(Base):
    """A fitted vectorizer (arrays and JSON, never pickle). Passages are vectorized with the
    newest model of a kind when they are stored; a run uses the vectors of one model."""

    __tablename__ = "vector_model"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(40))
    dim: Mapped[int] = mapped_column(Integer)
    fitted_on: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<VectorModel {self.id} {self.kind} {self.version} dim={self.dim}>"


class PassageVector(Base):
    __tablename__ = "passage_vector"

    passage_id: Mapped[int] = mapped_column(ForeignKey("passage.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("vector_model.id", ondelete="CASCADE"), primary_key=True,
                                          index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, unit length


class ThemeAction(Base):
    """A review action on a run's themes, with the state before it, so it can be undone."""

    __tablename__ = "theme_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("theme_run.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(300))
    before: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<ThemeAction {self.id} {self.kind} run={self.run_id}>"
