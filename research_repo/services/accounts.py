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
# FIPS 140-approved password hashing (SP 800-132): PBKDF2-HMAC-SHA256 with OWASP's 600,000
# iterations. Older hashes (werkzeug's scrypt default, fewer iterations) are replaced at the
# next successful sign-in. Set per app by ``configure`` (tests may use fewer; production may not).
PASSWORD_ITERATIONS = 600_000
_iterations = PASSWORD_ITERATIONS
_dummy_hash: str | None = None
MAX_TOKEN_DAYS = 365


def configure(*, password_iterations: int) -> None:
    global _iterations, _dummy_hash
    if password_iterations != _iterations:
        _iterations, _dummy_hash = password_iterations, None


def _method() -> str:
    return f"pbkdf2:sha256:{_iterations}"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=_method())


def _dummy() -> str:
    """Compared against when the username is unknown, so both paths cost one hash check."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not-a-real-password-" + secrets.token_hex(8))
    return _dummy_hash


@dataclass(frozen=True)
class ThrottlePolicy:
    max_per_user: int  # consecutive failures that lock an account (AC-7)
    max_per_client: int
    window: timedelta
    lockout: timedelta = timedelta(minutes=30)
    inactive_after: timedelta | None = None  # an account unused this long is disabled


LOCKED_MESSAGE = ("Too many failed sign-in attempts: sign-in is locked for now. Try again in {wait}, or ask an "
                  "administrator to unlock your account.")


def _minutes(delta: timedelta) -> str:
    wait = max(1, math.ceil(delta.total_seconds() / 60))
    return f"{wait} minute{'s' if wait != 1 else ''}"


def _now() -> datetime:
    return datetime.now(UTC)


def now() -> datetime:
    """The time sign-in controls go by (locks, idle limits): pages that show a lock use it too."""
    return _now()


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
        password_hash=hash_password(password),
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
            # A deactivated account is signed out everywhere at once, and its API tokens are
            # revoked for good (reactivating does not bring them back).
            _end_everything(session, user)
    if changed:
        audit.record(
            session, actor, "user.update", object_type="user", object_id=user.id,
            fields=changed, role=role.value, is_active=is_active,
        )
    session.flush()
    return user


def _end_everything(session: Session, user: User, *, keep_session: str | None = None) -> None:
    """Sign the user out everywhere (but the session ``keep_session``) and revoke every token."""
    query = delete(AuthSession).where(AuthSession.user_id == user.id)
    if keep_session:
        query = query.where(AuthSession.token_hash != _token_hash(keep_session))
    session.execute(query)
    for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = _now()


def set_password(session: Session, actor: User | None, user: User, password: str, *,
                 keep_session: str | None = None) -> None:
    """A new password (an admin's reset, or the user's own change): every other session of the
    user ends and every API token is revoked; the account is unlocked."""
    _check_password_rules(password)
    user.password_hash = hash_password(password)
    user.locked_until = None
    _end_everything(session, user, keep_session=keep_session)
    audit.record(session, actor, "user.password", object_type="user", object_id=user.id,
                 by="self" if actor is not None and actor.id == user.id else "admin")
    session.flush()


def change_own_password(session: Session, user: User, current: str, new: str, *, keep_session: str) -> None:
    if not check_password_hash(user.password_hash, current):
        audit.record(session, user, "user.password_failed", object_type="user", object_id=user.id)
        raise ValidationError("The current password is not right.", field="current")
    if current == new:
        raise ValidationError("Choose a password different from the current one.", field="password")
    set_password(session, user, user, new, keep_session=keep_session)


def unlock(session: Session, actor: User, user_id: int, *, secret: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    user.locked_until = None
    session.execute(delete(LoginFailure).where(LoginFailure.username_key == _key(secret, "user:" + user.username)))
    audit.record(session, actor, "auth.unlock", object_type="user", object_id=user.id)
    session.flush()
    return user


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
    user = session.scalar(select(User).where(User.username == username))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        audit.record(session, None, "auth.login_locked", object_type="user", object_id=user.id)
        session.flush()
        raise TooManyAttempts(LOCKED_MESSAGE.format(wait=_minutes(user.locked_until - now)),
                              retry_after=math.ceil((user.locked_until - now).total_seconds()))
    for column, key, limit in (
        (LoginFailure.username_key, user_key, policy.max_per_user),
        (LoginFailure.client_key, client_key, policy.max_per_client),
    ):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(column == key, LoginFailure.at > since)
        ).one()
        if count >= limit:
            audit.record(session, None, "auth.login_throttled", object_type="user",
                         object_id=user.id if user else None, by="client" if key == client_key else "user")
            session.flush()
            wait = oldest + policy.window - now
            raise TooManyAttempts(LOCKED_MESSAGE.format(wait=_minutes(wait)),
                                  retry_after=max(60, math.ceil(wait.total_seconds())))

    ok = check_password_hash(user.password_hash if user else _dummy(), password)
    if ok and user and user.is_active and policy.inactive_after is not None:
        last = user.last_login_at or user.created_at
        if last is not None and last < now - policy.inactive_after:
            # Unused too long (AC-2(3)): disabled; an administrator reactivates it.
            user.is_active = False
            _end_everything(session, user)
            audit.record(session, None, "user.disabled_inactive", object_type="user", object_id=user.id)
    if not (user and ok and user.is_active):
        session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
        session.add(LoginFailure(username_key=user_key, client_key=client_key, at=now))
        audit.record(session, None, "auth.login_failed", object_type="user", object_id=user.id if user else None)
        session.flush()
        failures = session.scalar(select(func.count()).where(LoginFailure.username_key == user_key,
                                                             LoginFailure.at > since))
        if user is not None and failures >= policy.max_per_user:
            user.locked_until = now + policy.lockout
            audit.record(session, None, "auth.lockout", object_type="user", object_id=user.id,
                         minutes=int(policy.lockout.total_seconds() // 60))
            session.flush()
        return None
    session.execute(delete(LoginFailure).where(LoginFailure.username_key == user_key))
    if not user.password_hash.startswith(_method() + "$"):
        user.password_hash = hash_password(password)  # an older hash, upgraded now that we know the password
        audit.record(session, user, "user.password_rehash", object_type="user", object_id=user.id)
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, *, hours: int) -> str:
    """Create a sign-in session; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    session.add(AuthSession(token_hash=_token_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                            expires_at=now + timedelta(hours=hours)))
    audit.record(session, user, "auth.login", object_type="user", object_id=user.id)
    session.flush()
    return token


def end_session(session: Session, token: str) -> None:
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _token_hash(token)))
    if row is not None:
        audit.record(session, row.user, "auth.logout", object_type="user", object_id=row.user_id)
        session.delete(row)
        session.flush()


def session_owner(session: Session, token: str, *, idle: timedelta) -> tuple[int, int, bool] | None:
    """(session id, user id, whether its last-seen time is worth writing) for a live sign-in
    session of an active user: not expired, and not idle longer than ``idle`` (AC-11/AC-12).
    Reads only; an idle or expired session is None and ends at the next write."""
    now = _now()
    row = session.execute(
        select(AuthSession.id, AuthSession.user_id, AuthSession.last_seen_at, AuthSession.created_at)
        .join(User, AuthSession.user_id == User.id)
        .where(AuthSession.token_hash == _token_hash(token), AuthSession.expires_at > now, User.is_active.is_(True))
    ).one_or_none()
    if row is None:
        return None
    last = row.last_seen_at or row.created_at
    if last <= now - idle:
        return None
    return row.id, row.user_id, now - last > timedelta(minutes=1)


def touch_session(session: Session, session_id: int) -> None:
    row = session.get(AuthSession, session_id)
    if row is not None:
        row.last_seen_at = _now()


def end_idle_session(session: Session, token: str) -> None:
    """Delete a session that ran out (idle or expired), with an audit event."""
    row = session.scalar(select(AuthSession).where(AuthSession.token_hash == _token_hash(token)))
    if row is not None:
        audit.record(session, None, "auth.session_timeout", object_type="user", object_id=row.user_id)
        session.delete(row)


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
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError(f"A token lasts 1 to {MAX_TOKEN_DAYS} days.", field="days")
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


def token_failures(session: Session, *, client: str, secret: str, window: timedelta) -> int:
    """Failed API-token attempts from this client within the window."""
    return session.scalar(select(func.count()).where(
        LoginFailure.username_key == _key(secret, "token:"), LoginFailure.client_key == _key(secret, "client:" + client),
        LoginFailure.at > _now() - window))


def record_token_failure(session: Session, *, client: str, secret: str) -> None:
    session.add(LoginFailure(username_key=_key(secret, "token:"), client_key=_key(secret, "client:" + client),
                             at=_now()))
    audit.record(session, None, "api_token.failed")


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
