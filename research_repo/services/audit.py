"""Append-only audit events: who, when, what ids; never identifier values."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditEvent, User

# Details hold ids, counts, enum values and field names. Free text (names typed into a
# form, passage text, redacted values) never goes here; callers pass field names instead.
_ALLOWED_DETAIL_TYPES = (int, float, bool, type(None))


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
        _check_detail(key, value)
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        action=action,
        study_id=study_id,
        object_type=object_type,
        object_id=object_id,
        details=details,
    )
    session.add(event)
    return event


def _check_detail(key: str, value: Any) -> None:
    if isinstance(value, _ALLOWED_DETAIL_TYPES):
        return
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, str)) for v in value):
        if all(isinstance(v, int) or _is_token(v) for v in value):
            return
    if isinstance(value, str) and _is_token(value):
        return
    raise TypeError(
        f"audit detail {key!r} must be ids, numbers or short identifiers-free tokens, not free text"
    )


def _is_token(value: str) -> bool:
    # Enum values and field names: short, no spaces. Free text would carry identifiers.
    return len(value) <= 60 and " " not in value and "@" not in value
