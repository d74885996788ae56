"""A study's de-identification terms, edited by its researchers.

- The **roster**: participants' names, so every mention is redacted even where the engine
  would not know them for names. Only keyed hashes are stored (``nlp.deid.Roster``: each name
  and each of its parts), under a key derived from the app's secret and the study, so the
  database holds no name and one study's hashes say nothing about another's.
- **Never redact**: terms the engine takes for identifiers that are not (a program's name,
  "Grace period"). Stored as written; typed values are never echoed in messages.

Both apply to what is ingested from then on; earlier sources keep their text (a hand
redaction across the study covers a name found later).
"""
from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nlp.deid import Roster

from ..models import Study, StudyTerm, User
from . import audit
from .errors import ValidationError

ROSTER, KEEP = "roster", "keep"
MAX_TERMS = 2000


def roster_key(secret: str | bytes, study_id: int) -> bytes:
    secret = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(secret, f"research-repo roster v1 study {study_id}".encode(), hashlib.sha256).digest()


def roster(session: Session, study_id: int, secret: str | bytes) -> Roster | None:
    digests = list(session.scalars(select(StudyTerm.digest).where(StudyTerm.study_id == study_id,
                                                                 StudyTerm.kind == ROSTER)))
    return Roster(roster_key(secret, study_id), digests) if digests else None


def keep_terms(session: Session, study_id: int) -> list[str]:
    return list(session.scalars(select(StudyTerm.value).where(StudyTerm.study_id == study_id, StudyTerm.kind == KEEP)
                                .order_by(StudyTerm.value)))


def roster_size(session: Session, study_id: int) -> int:
    return session.scalar(select(func.count()).select_from(StudyTerm).where(StudyTerm.study_id == study_id,
                                                                            StudyTerm.kind == ROSTER))


def _lines(text: str, what: str) -> list[str]:
    lines = list(dict.fromkeys(" ".join(line.split()) for line in (text or "").splitlines() if line.strip()))
    if len(lines) > MAX_TERMS:
        raise ValidationError(f"Give at most {MAX_TERMS} {what} at once.", field=what.replace(" ", "_"))
    if any(len(line) > 120 for line in lines):
        raise ValidationError(f"Keep each of the {what} under 120 characters.", field=what.replace(" ", "_"))
    return lines


def add_to_roster(session: Session, actor: User, study: Study, names: str, secret: str | bytes) -> int:
    """Hash each name (one per line) and its parts into the roster; returns how many hashes
    were added. The names themselves go no further than this function."""
    lines = _lines(names, "names")
    if not lines:
        raise ValidationError("Write one participant's name per line.", field="names")
    digests = Roster.from_names(roster_key(secret, study.id), lines).digests
    have = set(session.scalars(select(StudyTerm.digest).where(StudyTerm.study_id == study.id,
                                                              StudyTerm.kind == ROSTER)))
    new = sorted(set(digests) - have)
    session.add_all([StudyTerm(study_id=study.id, kind=ROSTER, digest=d, created_by_id=actor.id) for d in new])
    audit.record(session, actor, "study.roster_add", study_id=study.id, object_type="study", object_id=study.id,
                 names=len(lines), hashes=len(new))
    return len(new)


def clear_roster(session: Session, actor: User, study: Study) -> int:
    removed = session.execute(delete(StudyTerm).where(StudyTerm.study_id == study.id, StudyTerm.kind == ROSTER))
    audit.record(session, actor, "study.roster_clear", study_id=study.id, object_type="study", object_id=study.id,
                 hashes=removed.rowcount)
    return removed.rowcount


def set_keep_terms(session: Session, actor: User, study: Study, text: str) -> int:
    """Replace the never-redact list with the given lines; returns how many there are."""
    lines = _lines(text, "terms")
    session.execute(delete(StudyTerm).where(StudyTerm.study_id == study.id, StudyTerm.kind == KEEP))
    session.add_all([StudyTerm(study_id=study.id, kind=KEEP, value=line, created_by_id=actor.id) for line in lines])
    audit.record(session, actor, "study.keep_terms", study_id=study.id, object_type="study", object_id=study.id,
                 terms=len(lines))
    return len(lines)


def add_keep_terms(session: Session, actor: User, study: Study, values: list[str]) -> int:
    """Add terms to the never-redact list (from a preview's "never redact in this study")."""
    have = set(keep_terms(session, study.id))
    new = [v for v in dict.fromkeys(" ".join(v.split()) for v in values) if v and v not in have and len(v) <= 120]
    session.add_all([StudyTerm(study_id=study.id, kind=KEEP, value=v, created_by_id=actor.id) for v in new])
    if new:
        audit.record(session, actor, "study.keep_terms_add", study_id=study.id, object_type="study",
                     object_id=study.id, terms=len(new))
    return len(new)
