"""Imports of exports (tickets, survey comments): progress, reconciliation and rejections.

An import commits in chunks; ``records_read`` is its cursor, committed in the same transaction
as the chunk's sources, so after a crash the same file resumes exactly where it stopped.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ._types import UTCDateTime, text_enum, utcnow
from .studies import SourceKind


class ImportStatus(enum.Enum):
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    DONE = "done"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ImportRun(Base):
    __tablename__ = "import_run"
    __table_args__ = (
        # The same file (keyed hash of its bytes) is imported once per study.
        UniqueConstraint("study_id", "content_key"),
        CheckConstraint("records_read = records_stored + records_rejected", name="reconciled"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    kind: Mapped[SourceKind] = mapped_column(text_enum(SourceKind, "source_kind"))
    format: Mapped[str] = mapped_column(String(10))
    content_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[ImportStatus] = mapped_column(text_enum(ImportStatus, "import_status"))
    records_total: Mapped[int] = mapped_column(Integer)
    records_read: Mapped[int] = mapped_column(Integer, default=0)
    records_stored: Mapped[int] = mapped_column(Integer, default=0)
    records_rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Column names and roles only (never cell values); plus counts such as unparsed dates.
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    # host:pid of the process importing now, so a crashed import can be taken over at once.
    owner: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    rejections: Mapped[list[ImportRejection]] = relationship(
        back_populates="import_run", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ImportRejection.record_number",
    )

    def __repr__(self) -> str:
        return f"<ImportRun {self.id} study={self.study_id} {self.status.value} {self.records_read}/{self.records_total}>"


class ImportRejection(Base):
    """A record that was read and not stored, with why. The reason is a fixed sentence that
    names the record's line or row and the columns involved, never a cell's value."""

    __tablename__ = "import_rejection"
    __table_args__ = (UniqueConstraint("import_id", "record_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"))
    record_number: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)

    import_run: Mapped[ImportRun] = relationship(back_populates="rejections")
