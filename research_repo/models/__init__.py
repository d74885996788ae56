"""The domain model; importing this package registers every table on ``Base.metadata``."""
from ..db import Base
from .accounts import ApiToken, AuthSession, LoginFailure, Role, StudyMembership, User
from .coding import CodingAction, Highlight, HighlightTag, Polarity, Tag, theme_passage
from .insights import (
    A11Driver,
    Insight,
    InsightDriver,
    InsightStatus,
    LearningAgendaQuestion,
    insight_highlight,
    insight_passage,
    insight_question,
    insight_theme,
)
from .imports import ImportRejection, ImportRun, ImportStatus
from .ops import AuditEvent, IndexOutbox, Job, JobStatus, OutboxOp, SavedSearch
from .studies import Method, Passage, Source, SourceKind, Study, StudyTerm
from .themes import PassageVector, Theme, ThemeAction, ThemeRun, ThemeRunStatus, ThemeStatus, VectorModel

metadata = Base.metadata

__all__ = [
    "A11Driver", "ApiToken", "AuditEvent", "CodingAction", "ImportRejection", "ImportRun", "ImportStatus", "AuthSession", "Base", "Highlight", "HighlightTag", "IndexOutbox",
    "Insight", "InsightDriver", "InsightStatus", "Job", "JobStatus", "LearningAgendaQuestion",
    "LoginFailure", "Method", "OutboxOp", "Passage", "Polarity", "Role", "SavedSearch", "Source", "SourceKind",
    "PassageVector", "Study", "StudyMembership", "StudyTerm", "Tag", "Theme", "ThemeAction", "ThemeRun", "ThemeRunStatus",
    "ThemeStatus", "User", "VectorModel",
    "insight_highlight", "insight_passage", "insight_question", "insight_theme", "metadata",
    "theme_passage",
]
