"""Saved searches. A query can hold a name someone typed; it is run through the de-identifier
and refused if anything in it looks like an identifier, so none is stored."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import SavedSearch, User
from . import audit
from .errors import Conflict, NotFound, ValidationError
from .inputs import refuse_identifiers

MAX_PER_USER = 200
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def save(session: Session, user: User, name: str, params: dict) -> SavedSearch:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the search a name.", field="name")
    if len(name) > 120:
        raise ValidationError("Keep the name under 120 characters.", field="name")
    refuse_identifiers(name, "name", "name")
    params = _checked_params(params)
    if session.scalar(select(SavedSearch.id).where(SavedSearch.user_id == user.id, SavedSearch.name == name)):
        raise Conflict("You already have a saved search with that name.", field="name")
    if len(list_for(session, user)) >= MAX_PER_USER:
        raise ValidationError(f"You can keep at most {MAX_PER_USER} saved searches; delete one first.")
    saved = SavedSearch(user_id=user.id, name=name, params=params)
    session.add(saved)
    session.flush()
    audit.record(session, user, "search.save", object_type="saved_search", object_id=saved.id)
    return saved


def _checked_params(params: dict) -> dict:
    """A saved search's parameters, stored as typed or refused: the query and every filter value
    are checked for identifiers, dates must be dates, the sort one of two."""
    from ..search import FACETS

    out: dict = {}
    for key, value in params.items():
        if key == "q":
            out[key] = refuse_identifiers(str(value)[:500], "search", "q")
        elif key in ("from", "to"):
            if not DATE.fullmatch(str(value)):
                raise ValidationError("Dates in a saved search are written YYYY-MM-DD.", field=key)
            out[key] = str(value)
        elif key == "sort":
            out[key] = "date" if value == "date" else "relevance"
        elif key in FACETS:
            values = value if isinstance(value, list) else [value]
            out[key] = [refuse_identifiers(str(v)[:200], "filter value", key) for v in values[:20]]
        else:
            raise ValidationError("A saved search holds a query, filters, dates and a sort order only.")
    return out


def list_for(session: Session, user: User) -> list[SavedSearch]:
    return list(session.scalars(select(SavedSearch).where(SavedSearch.user_id == user.id).order_by(SavedSearch.name)))


def delete(session: Session, user: User, saved_id: int) -> None:
    saved = session.get(SavedSearch, saved_id)
    if saved is None or saved.user_id != user.id:
        raise NotFound("No such saved search.")
    session.delete(saved)
    audit.record(session, user, "search.delete_saved", object_type="saved_search", object_id=saved_id)
