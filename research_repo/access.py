"""Who may do what: the one place where roles and study membership are checked."""
from __future__ import annotations

import enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Role, Study, StudyMembership, User
from .services.errors import NotFound, PermissionDenied, HiddenStudy


class Action(enum.Enum):
    READ = "read"
    CODE = "code"
    UPLOAD = "upload"
    EDIT = "edit"

    def allowed_for(self, role: Role) -> bool:
        return {
            Action.READ: role.can_read_study,
            Action.CODE: role.can_code,
            Action.UPLOAD: role.can_upload,
            Action.EDIT: role.can_edit_study,
        }[self]()


def study_role(session: Session, user: User, study_id: int) -> Role | None:
    """The role ``user`` holds in the study: admin everywhere, else their membership."""
    if user.role is Role.ADMIN:
        return Role.ADMIN
    return session.scalar(
        select(StudyMembership.role).where(
            StudyMembership.study_id == study_id, StudyMembership.user_id == user.id
        )
    )


def can(session: Session, user: User | None, action: Action, study_id: int) -> bool:
    if user is None or not user.is_active:
        return False
    role = study_role(session, user, study_id)
    return role is not None and action.allowed_for(role)


def get_study(session: Session, user: User, study_id: int, action: Action = Action.READ) -> Study:
    """Load a study the user may act on. A study they may not read answers NotFound,
    so its existence is not disclosed."""
    study = session.get(Study, study_id)
    role = study_role(session, user, study_id) if study is not None else None
    if study is None or role is None:
        raise (NotFound if study is None else HiddenStudy)("No such study, or you are not a member of it.")
    if not action.allowed_for(role):
        raise PermissionDenied(
            f"Your role in this study ({role.label.lower()}) does not allow this; ask a researcher on the study."
        )
    return study


def readable_study_ids(user: User):
    """A select of the ids of studies ``user`` may read, for filtering queries."""
    if user.role is Role.ADMIN:
        return select(Study.id)
    return select(StudyMembership.study_id).where(StudyMembership.user_id == user.id)


def require_user_admin(user: User) -> None:
    if not user.role.can_manage_users():
        raise PermissionDenied("Only administrators can manage user accounts.")


def require_study_creator(user: User) -> None:
    if not user.role.can_create_study():
        raise PermissionDenied("Only researchers and administrators can create studies.")
