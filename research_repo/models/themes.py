"""Theme runs (one clustering of a study's passages) and the themes they propose."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

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

    themes: Mapped[list[Theme]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True,
        foreign_keys="Theme.run_id",
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

    run: Mapped[ThemeRun] = relationship(back_populates="themes", foreign_keys=[run_id])

    def __repr__(self) -> str:
        return f"<Theme {self.id} {self.label!r} {self.status.value}>"
