"""User accounts, sign-in with throttling, and revocable sign-in sessions."""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import ApiToken, AuthSession, LoginFailure, Role, User
from . import audit
from .errors import Conflict, NotFound, TooManyAttempts, ValidationError

MIN_PASSWORD_LENGTH = 12
# Compared against when the username is unknown, so both paths cost one hash check.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


@dataclass(frozen=True)
class ThrottlePolicy:
    max_per_user: int
    max_per_client: int
    window: timedelta


def _now() -> datetime:
    return datetime.now(UTC)


def _check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.", field="password")


def create_user(
    session: Session,
    actor: User | None,
    *,
    username: str,
    display_name: str,
    password: str,
    role: Role,
) -> User:
    username = username.strip().lower()
    if not username or len(username) > 80 or any(c.isspace() for c in username):
        raise ValidationError("A username is 1 to 80 characters with no spaces.", field="username")
    _check_password_rules(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"The username {username!r} is taken; choose another.", field="username")
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=generate_password_hash(password),
        role=role,
        is_active=True,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", object_type="user", object_id=user.id, role=role.value)
    return user


def update_user(session: Session, actor: User, user_id: int, *, role: Role, is_active: bool) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    if user.id == actor.id and (role is not Role.ADMIN or not is_active):
        raise ValidationError("You cannot remove your own administrator role or deactivate yourself.")
    changed = []
    if user.role is not role:
        user.role = role
        changed.append("role")
    if user.is_active != is_active:
        user.is_active = is_active
        changed.append("is_active")
        if not is_active:
            # A deactivated account is signed out everywhere at once.
            session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    if changed:
        audit.record(
            session, actor, "user.update", object_type="user", object_id=user.id,
            fields=changed, role=role.value, is_active=is_active,
        )
    session.flush()
    return user


def set_password(session: Session, actor: User | None, user: User, password: str) -> None:
    _check_password_rules(password)
    user.password_hash = generate_password_hash(password)
    # Everyone signed in as this user must sign in again with the new password.
    session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    audit.record(session, actor, "user.password", object_type="user", object_id=user.id)
    session.flush()


def _key(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    client: str,
    secret: str,
    policy: ThrottlePolicy,
) -> User | None:
    """Check a password; None (with the failure recorded) if wrong.

    Failures live in the database, so the limit holds across processes. Raises
    TooManyAttempts before checking anything when the user or the client is over the limit.
    The caller commits either way, so a failure is remembered.
    """
    username = username.strip().lower()
    user_key, client_key = _key(secret, "user:" + username), _key(secret, "client:" + client)
    now = _now()
    since = now - policy.window
    for column, key, limit in (
        (LoginFailure.username_key, user_key, policy.max_per_user),
        (LoginFailure.client_key, client_key, policy.max_per_client),
    ):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(column == key, LoginFailure.at > since)
        ).one()
        if count >= limit:
            wait = max(1, math.ceil((oldest + policy.window - now).total_seconds() / 60))
            raise TooManyAttempts(
                f"Too many failed sign-in attempts. Try again in {wait} minute{'s' if wait != 1 else ''}, "
                f"or ask an administrator to reset your password.",
                retry_after=wait * 60,
            )

    user = session.scalar(select(User).where(User.username == username))
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if not (user and ok and user.is_active):
        session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
        session.add(LoginFailure(username_key=user_key, client_key=client_key, at=now))
        session.flush()
        return None
    session.execute(delete(LoginFailure).where(LoginFailure.username_key == user_key))
    user.last_login_at = now
    session.flush()
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, *, hours: int) -> str:
    """Create a sign-in session; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    session.add(
        AuthSession(token_hash=_token_hash(token), user_id=user.id, created_at=now, expires_at=now + timedelta(hours=hours))
    )
    audit.record(session, user, "auth.login", object_type="user", object_id=user.id)
    session.flush()
    return token


def end_session(session: Session, token: str) -> None:
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _token_hash(token)))
    if row is not None:
        audit.record(session, row.user, "auth.logout", object_type="user", object_id=row.user_id)
        session.delete(row)
        session.flush()


def user_for_token(session: Session, token: str) -> User | None:
    return session.scalar(
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            AuthSession.token_hash == _token_hash(token),
            AuthSession.expires_at > _now(),
            User.is_active.is_(True),
        )
    )


TOKEN_PREFIX = "rr_"
MAX_TOKENS = 20


def create_api_token(session: Session, user: User, name: str, *, days: int = 365) -> tuple[ApiToken, str]:
    """A personal API token; returns the row and the token, which is shown once (only its
    hash is stored). It expires after ``days`` and can be revoked."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Name the token after what will use it.", field="name")
    if len(name) > 80:
        raise ValidationError("Keep the token name under 80 characters.", field="name")
    from .inputs import label

    name, _ = label(name, 80, "token name", "name")
    active = session.scalar(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
    if active >= MAX_TOKENS:
        raise ValidationError(f"You can hold at most {MAX_TOKENS} tokens; revoke one first.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    row = ApiToken(user_id=user.id, name=name, token_hash=_token_hash(token), created_at=now,
                   expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    audit.record(session, user, "api_token.create", object_type="api_token", object_id=row.id)
    return row, token


def api_token_owner(session: Session, token: str) -> tuple[int, int, bool] | None:
    """(token id, user id, whether its last use is worth recording) for a valid token of an
    active user; None otherwise. Reads only."""
    row = session.scalar(select(ApiToken).join(User, User.id == ApiToken.user_id).where(
        ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_(None), User.is_active.is_(True)))
    now = _now()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    # Coarse, so a burst of reads is not a burst of writes.
    stale = row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5)
    return row.id, row.user_id, stale


def mark_api_token_used(session: Session, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None:
        row.last_used_at = _now()


def list_api_tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def revoke_api_token(session: Session, user: User, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such token.")
    if row.revoked_at is None:
        row.revoked_at = _now()
        audit.record(session, user, "api_token.revoke", object_type="api_token", object_id=row.id)
    session.flush()
    return row


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
