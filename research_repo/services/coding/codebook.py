"""The codebook: hierarchical tags per study, with the locked set of the eight OMB A-11 CX
drivers, created, renamed, moved, merged and deleted with every change audited and sent to
the index. Tag names and descriptions are de-identified like any typed text."""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...models import A11Driver, Highlight, HighlightTag, Study, Tag, User
from .. import audit, outbox
from ..errors import Conflict, NotFound, ValidationError
from ..inputs import label_spans
from ..inputs import free_text


DRIVER_SET = "A-11 drivers"


HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def reindex_passages(session: Session, passage_ids) -> None:
    """Their tag and driver facets changed."""
    outbox.changed(session, passage_ids)


def _passages_coded_with(session: Session, tag_ids: list[int]) -> list[int]:
    return list(session.scalars(select(Highlight.passage_id).join(HighlightTag, HighlightTag.highlight_id == Highlight.id)
                                .where(HighlightTag.tag_id.in_(tag_ids)).distinct()))


def ensure_driver_tags(session: Session, study_id: int) -> list[Tag]:
    """The locked A-11 set: a parent and one tag per driver, made when a study is created
    (migration 0005 holds a frozen copy of this for studies made before it)."""
    parent = session.scalar(select(Tag).where(Tag.study_id == study_id, Tag.path == DRIVER_SET))
    if parent is None:
        parent = Tag(study_id=study_id, name=DRIVER_SET, path=DRIVER_SET, is_system=True,
                     description="OMB Circular A-11 Section 280 customer-experience drivers. Apply with a "
                                 "positive or negative polarity.")
        session.add(parent)
        session.flush()
    have = {t.driver: t for t in session.scalars(select(Tag).where(Tag.parent_id == parent.id))}
    out = []
    for driver in A11Driver:
        tag = have.get(driver.value)
        if tag is None:
            tag = Tag(study_id=study_id, parent_id=parent.id, name=driver.label, path=f"{DRIVER_SET}/{driver.label}",
                      is_system=True, driver=driver.value)
            session.add(tag)
        out.append(tag)
    session.flush()
    return out


def tags(session: Session, study_id: int) -> list[Tag]:
    """Every tag of the study in path order (parents before children); the A-11 set is made
    with the study (``ensure_driver_tags``, and migration 0005 for older studies)."""
    return list(session.scalars(select(Tag).where(Tag.study_id == study_id).order_by(Tag.is_system, Tag.path)))


def usage(session: Session, study_id: int) -> dict[int, int]:
    rows = session.execute(
        select(HighlightTag.tag_id, func.count()).join(Tag, Tag.id == HighlightTag.tag_id)
        .where(Tag.study_id == study_id).group_by(HighlightTag.tag_id))
    return dict(rows.all())


def get_tag(session: Session, study_id: int, tag_id: int | None) -> Tag:
    tag = session.get(Tag, tag_id) if tag_id else None
    if tag is None or tag.study_id != study_id:
        raise NotFound("No such tag in this study's codebook.")
    return tag


def _locked(tag: Tag) -> None:
    if tag.is_system:
        raise ValidationError(f"“{tag.name}” belongs to the locked A-11 driver set; it cannot be changed.")


def clean_name(value: str | None) -> str:
    name = " ".join((value or "").split())
    if not name:
        raise ValidationError("Give the tag a name.", field="name")
    if "/" in name:
        raise ValidationError("A tag name cannot contain “/”; choose a parent tag to nest it instead.", field="name")
    if len(name) > 120:
        raise ValidationError("Keep the tag name under 120 characters.", field="name")
    if label_spans(name):
        raise ValidationError("The tag name looks like it contains an identifier; tag names are shown "
                              "everywhere, so name the concept instead.", field="name")
    return name


def clean_color(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not HEX_COLOR.fullmatch(value):
        raise ValidationError("Write the color as # and six hexadecimal digits, for example #005ea2.", field="color")
    return value.lower()


def parent_tag(session: Session, study_id: int, parent_id: int | None) -> Tag | None:
    if not parent_id:
        return None
    parent = get_tag(session, study_id, parent_id)
    if parent.is_system:
        raise ValidationError("Tags cannot be added to the locked A-11 driver set.", field="parent")
    return parent


def check_free_path(session: Session, study_id: int, path: str, exclude: int | None = None) -> None:
    query = select(Tag.id).where(Tag.study_id == study_id, func.lower(Tag.path) == path.lower())
    if exclude:
        query = query.where(Tag.id != exclude)
    if session.scalar(query) is not None:
        raise Conflict(f"The codebook already has a tag “{path}”.", field="name")


def create_tag(session: Session, actor: User, study: Study, name: str, *, parent_id: int | None = None,
               description: str = "", color: str | None = None) -> Tag:
    name = clean_name(name)
    parent = parent_tag(session, study.id, parent_id)
    path = f"{parent.path}/{name}" if parent else name
    check_free_path(session, study.id, path)
    description, _ = free_text(description, 2000, "description", "description")
    tag = Tag(study_id=study.id, parent_id=parent.id if parent else None, name=name, path=path,
              description=description, color=clean_color(color))
    session.add(tag)
    session.flush()
    audit.record(session, actor, "tag.create", study_id=study.id, object_type="tag", object_id=tag.id,
                 parent=tag.parent_id)
    return tag


def _descendants(session: Session, tag: Tag) -> list[Tag]:
    return list(session.scalars(select(Tag).where(Tag.study_id == tag.study_id, Tag.path.startswith(tag.path + "/"))))


def _repath(session: Session, tag: Tag, new_path: str) -> None:
    old = tag.path
    for child in _descendants(session, tag):
        child.path = new_path + child.path[len(old):]
    tag.path = new_path


def update_tag(session: Session, actor: User, tag: Tag, *, name: str, parent_id: int | None, description: str,
               color: str | None) -> Tag:
    """Rename, move (to another parent or the top), describe or recolor a tag; its children move with it."""
    _locked(tag)
    name = clean_name(name)
    parent = parent_tag(session, tag.study_id, parent_id)
    if parent is not None and (parent.id == tag.id or parent.path.startswith(tag.path + "/")):
        raise ValidationError("A tag cannot be moved under itself or one of its own children.", field="parent")
    path = f"{parent.path}/{name}" if parent else name
    check_free_path(session, tag.study_id, path, exclude=tag.id)
    changed = []
    if path != tag.path:
        changed.append("name" if tag.name != name else "parent")
        reindex_passages(session, _passages_coded_with(session, [tag.id, *[t.id for t in _descendants(session, tag)]]))
        _repath(session, tag, path)
        tag.name, tag.parent_id = name, parent.id if parent else None
    description, _ = free_text(description, 2000, "description", "description")
    if description != tag.description:
        tag.description = description
        changed.append("description")
    color = clean_color(color)
    if color != tag.color:
        tag.color = color
        changed.append("color")
    session.flush()
    if changed:
        audit.record(session, actor, "tag.update", study_id=tag.study_id, object_type="tag", object_id=tag.id,
                     fields=changed)
    return tag


def merge_tags(session: Session, actor: User, target: Tag, others: list[Tag]) -> int:
    """Fold ``others`` into ``target``: their highlights and children follow. Returns the
    number of highlight codings moved."""
    _locked(target)
    others = [t for t in others if t.id != target.id]
    if not others:
        raise ValidationError("Choose at least one other tag to merge into this one.", field="other")
    moved = 0
    for other in others:
        _locked(other)
        if other.study_id != target.study_id:
            raise NotFound("No such tag in this study's codebook.")
        reindex_passages(session, _passages_coded_with(session, [other.id, *[t.id for t in _descendants(session, other)]]))
        if target.path.startswith(other.path + "/"):
            raise ValidationError(f"“{other.path}” contains “{target.path}”; merge the other way round.")
        have = set(session.scalars(select(HighlightTag.highlight_id).where(HighlightTag.tag_id == target.id)))
        for link in session.scalars(select(HighlightTag).where(HighlightTag.tag_id == other.id)).all():
            if link.highlight_id not in have:
                session.add(HighlightTag(highlight_id=link.highlight_id, tag_id=target.id))
                have.add(link.highlight_id)
                moved += 1
            session.delete(link)
        for child in session.scalars(select(Tag).where(Tag.parent_id == other.id)).all():
            new_path = f"{target.path}/{child.name}"
            check_free_path(session, target.study_id, new_path, exclude=child.id)
            _repath(session, child, new_path)
            child.parent_id = target.id
        session.flush()
        session.delete(other)
        session.flush()
        audit.record(session, actor, "tag.merge", study_id=target.study_id, object_type="tag", object_id=target.id,
                     merged=other.id)
    return moved


def delete_impact(session: Session, tag: Tag) -> tuple[int, int]:
    """(tags, codings) a delete would remove: the tag and its children, and their highlight links."""
    ids = [tag.id, *[t.id for t in _descendants(session, tag)]]
    codings = session.scalar(select(func.count()).select_from(HighlightTag).where(HighlightTag.tag_id.in_(ids)))
    return len(ids), codings or 0


def delete_tag(session: Session, actor: User, tag: Tag) -> tuple[int, int]:
    _locked(tag)
    counts = delete_impact(session, tag)
    reindex_passages(session, _passages_coded_with(session, [tag.id, *[t.id for t in _descendants(session, tag)]]))
    for child in sorted(_descendants(session, tag), key=lambda t: -t.path.count("/")):
        session.delete(child)
    session.delete(tag)
    session.flush()
    audit.record(session, actor, "tag.delete", study_id=tag.study_id, object_type="tag", object_id=tag.id,
                 tags=counts[0], codings=counts[1])
    return counts
