"""Saved searches. A query can hold a name someone typed; it is run through the de-identifier
and refused if anything in it looks like an identifier, so none is stored."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import SavedSearch, User
from . import audit
from .errors import Conflict, NotFound, ValidationError
from .ingest import deidentifier

MAX_PER_USER = 200


def _check_free_of_identifiers(value: str, field: str, what: str) -> None:
    spans = deidentifier().find(value)
    if spans:
        kinds = sorted({s.kind.value.lower() for s in spans})
        raise ValidationError(f"The {what} looks like it contains an identifier ({', '.join(kinds)}), so it "
                              "cannot be saved. Remove it and try again.", field=field)


def save(session: Session, user: User, name: str, params: dict) -> SavedSearch:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the search a name.", field="name")
    if len(name) > 120:
        raise ValidationError("Keep the name under 120 characters.", field="name")
    _check_free_of_identifiers(name, "name", "name")
    _check_free_of_identifiers(str(params.get("q", "")), "q", "search")
    if session.scalar(select(SavedSearch.id).where(SavedSearch.user_id == user.id, SavedSearch.name == name)):
        raise Conflict("You already have a saved search with that name.", field="name")
    if len(list_for(session, user)) >= MAX_PER_USER:
        raise ValidationError(f"You can keep at most {MAX_PER_USER} saved searches; delete one first.")
    saved = SavedSearch(user_id=user.id, name=name, params=params)
    session.add(saved)
    session.flush()
    audit.record(session, user, "search.save", object_type="saved_search", object_id=saved.id)
    return saved


def list_for(session: Session, user: User) -> list[SavedSearch]:
    return list(session.scalars(select(SavedSearch).where(SavedSearch.user_id == user.id).order_by(SavedSearch.name)))


def delete(session: Session, user: User, saved_id: int) -> None:
    saved = session.get(SavedSearch, saved_id)
    if saved is None or saved.user_id != user.id:
        raise NotFound("No such saved search.")
    session.delete(saved)
    audit.record(session, user, "search.delete_saved", object_type="saved_search", object_id=saved_id)
