"""Append-only audit events: who, when, what ids; never identifier values."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditEvent, User


# Details hold ids, counts, enum values and field names. Free text (names typed into a
# form, passage text, redacted values) never goes here; callers pass field names instead.
def _is_safe(value: Any, *, nested: bool = False) -> bool:
    if isinstance(value, (int, float, bool, type(None))):
        return True
    if isinstance(value, str):
        # A short token with no spaces or "@": an enum value or a field name, not a sentence or an email.
        return len(value) <= 60 and " " not in value and "@" not in value
    if isinstance(value, (list, tuple)) and not nested:
        return all(_is_safe(v, nested=True) for v in value)
    return False


def _client() -> str | None:
    """The request's client address (after the trusted proxies), outside a request None."""
    from flask import has_request_context, request

    return (request.remote_addr or None) if has_request_context() else None


def record(
    session: Session,
    actor: User | None,
    action: str,
    *,
    study_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    for key, value in details.items():
        if not _is_safe(value):
            raise TypeError(f"audit detail {key!r} must be ids, numbers or short tokens, not free text")
    event = AuditEvent(
        client=_client(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        study_id=study_id,
        object_type=object_type,
        object_id=object_id,
        details=details,
    )
    session.add(event)
    return event
