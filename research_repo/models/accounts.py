"""Users, roles, study membership, sign-in sessions and failed sign-in records."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from ._types import UTCDateTime, text_enum, utcnow


class Role(enum.Enum):
    """A user's role: system-wide for ``User.role``, per study for ``StudyMembership.role``."""

    ADMIN = "admin"
    RESEARCHER = "researcher"
    ANALYST = "analyst"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    def can_manage_users(self) -> bool:
        return self is Role.ADMIN

    def can_create_study(self) -> bool:
        return self in (Role.ADMIN, Role.RESEARCHER)

    # Study-level abilities; the admin role holds them in every study.
    def can_read_study(self) -> bool:
        return True

    def can_code(self) -> bool:
        return self in (Role.ADMIN, Role.RESEARCHER, Role.ANALYST)

    def can_upload(self) -> bool:
        return self in (Role.ADMIN, Role.RESEARCHER)

    def can_edit_study(self) -> bool:
        return self in (Role.ADMIN, Role.RESEARCHER)

    @classmethod
    def study_roles(cls) -> list[Role]:
        return [cls.RESEARCHER, cls.ANALYST, cls.VIEWER]


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(text_enum(Role, "user_role"), default=Role.VIEWER)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by consecutive failed sign-ins (AC-7); cleared when it passes or an admin unlocks.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[StudyMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    auth_sessions: Mapped[list[AuthSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role.value}>"


class StudyMembership(Base):
    __tablename__ = "study_membership"

    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[Role] = mapped_column(text_enum(Role, "membership_role"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    study: Mapped[Study] = relationship(back_populates="memberships")  # noqa: F821
    user: Mapped[User] = relationship(back_populates="memberships")

    def __repr__(self) -> str:
        return f"<StudyMembership study={self.study_id} user={self.user_id} {self.role.value}>"


class AuthSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored,
    and signing out deletes the row, so a copied cookie stops working."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The last request (to the minute): a session idle longer than SESSION_IDLE_MINUTES ends.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="auth_sessions")

    def __repr__(self) -> str:
        return f"<AuthSession {self.id} user={self.user_id}>"


class LoginFailure(Base):
    """One failed sign-in, keyed by keyed hashes of the username and the client address.
    Kept in the database so throttling holds across worker processes and machines."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username_key_at", "username_key", "at"),
        Index("ix_login_failure_client_key_at", "client_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username_key: Mapped[str] = mapped_column(String(64))
    client_key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<LoginFailure {self.id} at={self.at:%Y-%m-%dT%H:%M:%S}>"


class ApiToken(Base):
    """A personal token for the JSON API, sent as ``Authorization: Bearer <token>``. Only a
    hash is stored; the token is shown once. It acts with its owner's roles and can be revoked."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user={self.user_id}>"
