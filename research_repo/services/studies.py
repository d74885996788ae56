"""Studies and their membership."""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import access
from ..models import Method, Role, Source, Study, StudyMembership, User
from . import audit, coding, inputs
from .errors import Conflict, NotFound, ValidationError


@dataclass
class StudyInput:
    name: str
    method: Method
    service: str
    purpose: str = ""
    omb_control_number: str | None = None
    omb_expires_on: date | None = None
    retention_until: date | None = None

    def cleaned(self) -> tuple[StudyInput, int]:
        """The input with its free text de-identified, and how many identifiers were replaced."""
        typed_name = " ".join((self.name or "").split())
        if not typed_name:
            raise ValidationError("Give the study a name.", field="name")
        if len(typed_name) > 200:
            raise ValidationError("A study name is at most 200 characters.", field="name")
        if not (self.service or "").strip():
            raise ValidationError("Say which service the study is about (e.g. Retirement Services).", field="service")
        name, n_name = inputs.label(typed_name, 200, "study name", "name")
        service, n_service = inputs.label(self.service, 120, "service", "service")
        purpose, n_purpose = inputs.free_text(self.purpose, 5000, "purpose", "purpose")
        number = inputs.code(self.omb_control_number, inputs.OMB_CONTROL_NUMBER, "OMB control number",
                             "3206-0252 (four digits, hyphen, four digits)", "omb_control_number")
        if self.omb_expires_on and not number:
            raise ValidationError(
                "An OMB expiry date needs the OMB control number it belongs to.", field="omb_control_number"
            )
        return StudyInput(
            name=name, method=self.method, service=service, purpose=purpose,
            omb_control_number=number, omb_expires_on=self.omb_expires_on, retention_until=self.retention_until,
        ), n_name + n_service + n_purpose


def _ensure_unique_name(session: Session, actor: User, name: str, exclude_id: int | None = None) -> None:
    """No two studies the actor can read share a name. Studies they cannot read are not
    consulted: refusing a name only such a study has would tell them it exists."""
    query = select(Study.id).where(func.lower(Study.name) == name.lower(),
                                   Study.id.in_(access.readable_study_ids(actor)))
    if exclude_id is not None:
        query = query.where(Study.id != exclude_id)
    if session.scalar(query) is not None:
        raise Conflict("A study with that name already exists; choose another name.", field="name")


def create_study(session: Session, actor: User, data: StudyInput) -> Study:
    access.require_study_creator(actor)
    data, replaced = data.cleaned()
    _ensure_unique_name(session, actor, data.name)
    study = Study(created_by_id=actor.id, **{f.name: getattr(data, f.name) for f in fields(StudyInput)})
    session.add(study)
    session.flush()
    if actor.role is not Role.ADMIN:
        # The creator runs the study; admins already see everything.
        session.add(StudyMembership(study_id=study.id, user_id=actor.id, role=Role.RESEARCHER))
    # Every study's codebook starts with the locked A-11 driver set.
    coding.ensure_driver_tags(session, study.id)
    audit.record(session, actor, "study.create", study_id=study.id, object_type="study", object_id=study.id)
    session.flush()
    study.replaced_identifiers = replaced  # for the page's message; not a column
    return study


def update_study(session: Session, actor: User, study_id: int, data: StudyInput) -> Study:
    study = access.get_study(session, actor, study_id, access.Action.EDIT)
    data, replaced = data.cleaned()
    _ensure_unique_name(session, actor, data.name, exclude_id=study.id)
    changed = [f.name for f in fields(StudyInput) if getattr(study, f.name) != getattr(data, f.name)]
    for name in changed:
        setattr(study, name, getattr(data, name))
    if changed:
        audit.record(
            session, actor, "study.update", study_id=study.id, object_type="study", object_id=study.id, fields=changed
        )
    session.flush()
    study.replaced_identifiers = replaced
    return study


def set_member(session: Session, actor: User, study_id: int, username: str, role: Role) -> StudyMembership:
    study = access.get_study(session, actor, study_id, access.Action.EDIT)
    if role not in Role.study_roles():
        raise ValidationError("A study member is a researcher, an analyst or a viewer.", field="role")
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise ValidationError("There is no user with that username; an administrator can create the account.",
                              field="username")
    membership = session.get(StudyMembership, (study.id, user.id))
    action = "study.member_update"
    if membership is None:
        membership = StudyMembership(study_id=study.id, user_id=user.id, role=role)
        session.add(membership)
        action = "study.member_add"
    else:
        membership.role = role
    audit.record(session, actor, action, study_id=study.id, object_type="user", object_id=user.id, role=role.value)
    session.flush()
    return membership


def remove_member(session: Session, actor: User, study_id: int, user_id: int) -> None:
    study = access.get_study(session, actor, study_id, access.Action.EDIT)
    membership = session.get(StudyMembership, (study.id, user_id))
    if membership is None:
        raise NotFound("That user is not a member of this study.")
    if user_id == actor.id and actor.role is not Role.ADMIN:
        others = session.scalar(
            select(func.count()).where(
                StudyMembership.study_id == study.id,
                StudyMembership.role == Role.RESEARCHER,
                StudyMembership.user_id != actor.id,
            )
        )
        if not others:
            raise ValidationError("You are the study's only researcher; add another before leaving.")
    session.delete(membership)
    audit.record(session, actor, "study.member_remove", study_id=study.id, object_type="user", object_id=user_id)
    session.flush()


def list_studies(session: Session, user: User) -> list[tuple[Study, int]]:
    """Studies the user may read, each with its number of sources."""
    counts = (
        select(Source.study_id, func.count(Source.id).label("n")).group_by(Source.study_id).subquery()
    )
    rows = session.execute(
        select(Study, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.study_id == Study.id)
        .where(Study.id.in_(access.readable_study_ids(user)))
        .order_by(Study.name)
    )
    return [(study, n) for study, n in rows]


def members(session: Session, study_id: int) -> list[StudyMembership]:
    return list(
        session.scalars(
            select(StudyMembership)
            .join(User)
            .where(StudyMembership.study_id == study_id)
            .order_by(User.username)
        )
    )


def sources(session: Session, study_id: int, *, limit: int = 100) -> list[Source]:
    """The study's documents (not the records of bulk imports, which can number 100,000s)."""
    return list(session.scalars(select(Source).where(Source.study_id == study_id, Source.import_id.is_(None))
                                .order_by(Source.id).limit(limit)))


def source_count(session: Session, study_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Source).where(Source.study_id == study_id))


def get_by_name(session: Session, name: str) -> Study:
    """The study of that name (any case), or of that id written ``#12``. Names are unique per
    reader, so two teams may use one name: then the id must be given."""
    name = name.strip()
    if re.fullmatch(r"#\d+", name):
        found = [s for s in [session.get(Study, int(name[1:]))] if s is not None]
    else:
        found = list(session.scalars(select(Study).where(func.lower(Study.name) == name.lower()).order_by(Study.id)))
    if not found:
        raise NotFound("No study has that name.")
    if len(found) > 1:
        raise Conflict(f"{len(found)} studies have that name; give one by its id: "
                       + ", ".join(f"#{s.id}" for s in found) + ".")
    return found[0]


@dataclass
class DeidReport:
    """What de-identification did in a study, and how well the engine is measured to work
    (NIST SP 800-188 asks that users be told both)."""

    sources: int
    sources_with_replacements: int
    counts: dict[str, int]
    hand_redactions: int
    measured_on: str | None
    figures: list[dict]


def deid_report(session: Session, study_id: int) -> DeidReport:
    import json
    from collections import Counter

    from nlp.deid.evaluate import MEASURED

    counts: Counter = Counter()
    sources = with_replacements = manual = 0
    rows = session.execute(select(Source.redaction_summary).where(Source.study_id == study_id).execution_options(
        yield_per=2000))
    for (summary,) in rows:
        sources += 1
        summary = summary or {}
        found = summary.get("counts") or {}
        counts.update({k: int(v) for k, v in found.items()})
        with_replacements += bool(found)
        manual += int(summary.get("manual", 0))
    measured = json.loads(MEASURED.read_text(encoding="utf-8")) if MEASURED.exists() else {}
    return DeidReport(sources, with_replacements, dict(sorted(counts.items(), key=lambda kv: -kv[1])), manual,
                      measured.get("measured_on"), measured.get("figures", []))
