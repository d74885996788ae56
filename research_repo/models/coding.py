"""The codebook (hierarchical tags per study) and highlights (tagged passage spans)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ._types import UTCDateTime, text_enum, utcnow


class Polarity(enum.Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


class Tag(Base):
    __tablename__ = "tag"
    __table_args__ = (
        # Unique by full path ("Pay/Interim pay"), so siblings never share a name.
        UniqueConstraint("study_id", "path"),
        CheckConstraint("color IS NULL OR length(color) = 7", name="color_hex"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    path: Mapped[str] = mapped_column(String(1000))
    description: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str | None] = mapped_column(String(7))
    # The A-11 Section 280 drivers: a locked system set, applied with polarity.
    is_system: Mapped[bool] = mapped_column(default=False)
    # Which driver a system tag stands for (None for the study's own codes and the set's parent).
    driver: Mapped[str | None] = mapped_column(String(40))

    parent: Mapped[Tag | None] = relationship(remote_side="Tag.id", back_populates="children")
    children: Mapped[list[Tag]] = relationship(back_populates="parent", passive_deletes=True, order_by="Tag.id")

    def __repr__(self) -> str:
        return f"<Tag {self.id} {self.path!r}>"


class Highlight(Base):
    __tablename__ = "highlight"
    __table_args__ = (CheckConstraint("start_offset >= 0 AND end_offset > start_offset", name="span"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    passage_id: Mapped[int] = mapped_column(ForeignKey("passage.id", ondelete="CASCADE"), index=True)
    # Character offsets into the source's canonical (de-identified) text, inside the passage's
    # own span; a hand redaction that shifts the text moves them too.
    start_offset: Mapped[int] = mapped_column(Integer)
    end_offset: Mapped[int] = mapped_column(Integer)
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    tags: Mapped[list[HighlightTag]] = relationship(cascade="all, delete-orphan", passive_deletes=True,
                                                    order_by="HighlightTag.tag_id")
    passage: Mapped[Passage] = relationship()  # noqa: F821

    def __repr__(self) -> str:
        return f"<Highlight {self.id} passage={self.passage_id} [{self.start_offset}:{self.end_offset}]>"


class HighlightTag(Base):
    __tablename__ = "highlight_tag"

    highlight_id: Mapped[int] = mapped_column(
        ForeignKey("highlight.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True)
    # Set only for A-11 driver tags.
    polarity: Mapped[Polarity | None] = mapped_column(text_enum(Polarity, "highlight_polarity"))

    tag: Mapped[Tag] = relationship()


class CodingAction(Base):
    """One bulk coding step ("tag all results"), kept so it can be undone: the highlights it
    made and the tag links it added to highlights that already existed."""

    __tablename__ = "coding_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tag.id", ondelete="SET NULL"))
    origin: Mapped[str] = mapped_column(String(20))
    created_highlights: Mapped[list] = mapped_column(JSON, default=list)
    tagged_highlights: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Themes and insights link to passages through plain association tables.
theme_passage = Table(
    "theme_passage",
    Base.metadata,
    Column("theme_id", ForeignKey("theme.id", ondelete="CASCADE"), primary_key=True),
    Column("passage_id", ForeignKey("passage.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("rank", Integer, nullable=True),
    # Cosine similarity to the theme's centroid; a passage far from every theme stays with the
    # nearest but is flagged "not yet themed".
    Column("similarity", Float, nullable=True),
    Column("themed", Boolean, nullable=False, server_default=sa_true(), default=True),
)
