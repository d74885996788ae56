"""The codebook (hierarchical tags per study, with the locked A-11 driver set) and highlights
(tagged spans of a passage with a memo), including "tag all results" and its undo.

Free text a researcher types (tag names and descriptions, memos) goes through the
de-identifier before it is stored, like everything else in the repository."""
from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as SafeET
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..models import A11Driver, CodingAction, Highlight, HighlightTag, Passage, Polarity, Source, Study, Tag, Theme, ThemeRun, User
from ..models._types import utcnow
from . import audit, outbox
from .cells import safe_cell, unsafe_cell
from .errors import Conflict, NotFound, ValidationError
from .ingest import label_spans
from .inputs import free_text

DRIVER_SET = "A-11 drivers"
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_BULK = 5000
QDA_NS = "urn:QDA-XML:codebook:1.0"
# Stable REFI-QDA GUIDs for our objects: uuid5 of the object's kind and id under this namespace.
GUID_NS = uuid.UUID("6f1c2a4e-9a7b-4c55-8d0e-3b6f0e7c2d11")


def guid(kind: str, object_id: int) -> str:
    return str(uuid.uuid5(GUID_NS, f"{kind}:{object_id}"))


def reindex_passages(session: Session, passage_ids) -> None:
    """Their tag and driver facets changed."""
    outbox.changed(session, passage_ids)


def _passages_coded_with(session: Session, tag_ids: list[int]) -> list[int]:
    return list(session.scalars(select(Highlight.passage_id).join(HighlightTag, HighlightTag.highlight_id == Highlight.id)
                                .where(HighlightTag.tag_id.in_(tag_ids)).distinct()))


# ---------------------------------------------------------------- codebook

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


def _clean_name(value: str | None) -> str:
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


def _clean_color(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not HEX_COLOR.fullmatch(value):
        raise ValidationError("Write the color as # and six hexadecimal digits, for example #005ea2.", field="color")
    return value.lower()


def _parent(session: Session, study_id: int, parent_id: int | None) -> Tag | None:
    if not parent_id:
        return None
    parent = get_tag(session, study_id, parent_id)
    if parent.is_system:
        raise ValidationError("Tags cannot be added to the locked A-11 driver set.", field="parent")
    return parent


def _check_free_path(session: Session, study_id: int, path: str, exclude: int | None = None) -> None:
    query = select(Tag.id).where(Tag.study_id == study_id, func.lower(Tag.path) == path.lower())
    if exclude:
        query = query.where(Tag.id != exclude)
    if session.scalar(query) is not None:
        raise Conflict(f"The codebook already has a tag “{path}”.", field="name")


def create_tag(session: Session, actor: User, study: Study, name: str, *, parent_id: int | None = None,
               description: str = "", color: str | None = None) -> Tag:
    name = _clean_name(name)
    parent = _parent(session, study.id, parent_id)
    path = f"{parent.path}/{name}" if parent else name
    _check_free_path(session, study.id, path)
    description, _ = free_text(description, 2000, "description", "description")
    tag = Tag(study_id=study.id, parent_id=parent.id if parent else None, name=name, path=path,
              description=description, color=_clean_color(color))
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
    name = _clean_name(name)
    parent = _parent(session, tag.study_id, parent_id)
    if parent is not None and (parent.id == tag.id or parent.path.startswith(tag.path + "/")):
        raise ValidationError("A tag cannot be moved under itself or one of its own children.", field="parent")
    path = f"{parent.path}/{name}" if parent else name
    _check_free_path(session, tag.study_id, path, exclude=tag.id)
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
    color = _clean_color(color)
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
            _check_free_path(session, target.study_id, new_path, exclude=child.id)
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


# ---------------------------------------------------------------- highlights

@dataclass
class Coding:
    tag_id: int
    polarity: Polarity | None = None


def _codings(session: Session, study_id: int, codings: list[Coding]) -> list[tuple[Tag, Polarity | None]]:
    out, seen = [], set()
    for c in codings:
        tag = get_tag(session, study_id, c.tag_id)
        if tag.id in seen:
            continue
        seen.add(tag.id)
        if tag.is_system and tag.driver is None:
            raise ValidationError("Apply one of the A-11 drivers, not the set itself.", field="tags")
        if tag.driver and c.polarity is None:
            raise ValidationError(f"Say whether “{tag.name}” is positive or negative here.", field="tags")
        out.append((tag, c.polarity if tag.driver else None))
    return out


def locate(passage: Passage, quote: str, start: int | None = None, end: int | None = None) -> tuple[int, int]:
    """Source offsets of the selected text. The page sends offsets within the passage and the
    selected text; when they disagree (or no script ran) the text is found in the passage."""
    text = passage.text
    quote = quote or ""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        if not quote.strip() or text[start:end] == quote:
            return passage.start_offset + start, passage.start_offset + end
    squeezed = " ".join(quote.split())
    if not squeezed:
        if start is None:
            return passage.start_offset, passage.end_offset
        raise ValidationError("Select the words to highlight, or leave the selection empty for the whole passage.",
                              field="quote")
    pattern = re.compile(r"\s+".join(re.escape(w) for w in squeezed.split(" ")), re.IGNORECASE)
    m = pattern.search(text)
    if m is None:
        raise ValidationError("That text is not in this passage; select it again or copy it exactly.", field="quote")
    return passage.start_offset + m.start(), passage.start_offset + m.end()


def create_highlight(session: Session, actor: User, passage: Passage, span: tuple[int, int], codings: list[Coding],
                     memo: str = "") -> tuple[Highlight, int]:
    """A highlight of ``span`` (source offsets inside the passage) with tags and a memo.
    Returns it and how many identifiers were replaced in the memo."""
    source = session.get(Source, passage.source_id)
    start, end = span
    if not (passage.start_offset <= start < end <= passage.end_offset):
        raise ValidationError("The highlight must lie inside the passage.", field="quote")
    pairs = _codings(session, source.study_id, codings)
    memo, replaced = free_text(memo, 5000, "memo", "memo")
    if not pairs and not memo:
        raise ValidationError("Choose at least one tag or write a memo for the highlight.", field="tags")
    highlight = Highlight(passage_id=passage.id, start_offset=start, end_offset=end, memo=memo,
                          created_by_id=actor.id)
    session.add(highlight)
    session.flush()
    for tag, polarity in pairs:
        session.add(HighlightTag(highlight_id=highlight.id, tag_id=tag.id, polarity=polarity))
    reindex_passages(session, [passage.id])
    session.flush()
    audit.record(session, actor, "highlight.create", study_id=source.study_id, object_type="highlight",
                 object_id=highlight.id, passage=passage.id, tags=[t.id for t, _ in pairs])
    return highlight, replaced


def get_highlight(session: Session, study_id: int, highlight_id: int | None) -> Highlight:
    h = session.get(Highlight, highlight_id) if highlight_id else None
    if h is None or session.get(Source, h.passage.source_id).study_id != study_id:
        raise NotFound("No such highlight in this study.")
    return h


def get_passage(session: Session, study_id: int, passage_id: int | None) -> tuple[Passage, Source]:
    passage = session.get(Passage, passage_id) if passage_id else None
    source = session.get(Source, passage.source_id) if passage is not None else None
    if source is None or source.study_id != study_id:
        raise NotFound("No such passage in this study.")
    return passage, source


def get_theme(session: Session, study_id: int, theme_id: int | None) -> Theme:
    theme = session.get(Theme, theme_id) if theme_id else None
    if theme is None or session.get(ThemeRun, theme.run_id).study_id != study_id:
        raise NotFound("No such theme in this study.")
    return theme


def highlight_text(h: Highlight) -> str:
    p = h.passage
    return p.text[h.start_offset - p.start_offset:h.end_offset - p.start_offset]


def delete_highlight(session: Session, actor: User, study_id: int, h: Highlight) -> None:
    reindex_passages(session, [h.passage_id])
    session.delete(h)
    session.flush()
    audit.record(session, actor, "highlight.delete", study_id=study_id, object_type="highlight", object_id=h.id)


def highlights_for_passages(session: Session, passage_ids: list[int]) -> dict[int, list[Highlight]]:
    out: dict[int, list[Highlight]] = {}
    if not passage_ids:
        return out
    for h in session.scalars(select(Highlight).where(Highlight.passage_id.in_(passage_ids))
                             .order_by(Highlight.start_offset, Highlight.id)):
        out.setdefault(h.passage_id, []).append(h)
    return out


def bulk_tag(session: Session, actor: User, study: Study, passage_ids: list[int], coding: Coding,
             origin: str) -> CodingAction:
    """Tag every passage: a whole-passage highlight is made (or reused) for each. Recorded as
    one action so it can be undone."""
    passage_ids = list(dict.fromkeys(passage_ids))
    if not passage_ids:
        raise ValidationError("There are no passages to tag.")
    if len(passage_ids) > MAX_BULK:
        raise ValidationError(f"Tag at most {MAX_BULK:,} passages at once; narrow the search first.")
    [(tag, polarity)] = _codings(session, study.id, [coding])
    passages = session.execute(
        select(Passage.id, Passage.start_offset, Passage.end_offset).join(Source)
        .where(Passage.id.in_(passage_ids), Source.study_id == study.id)).all()
    if len(passages) != len(passage_ids):
        raise NotFound("Some of those passages are not in this study.")
    whole = {}
    for h in session.scalars(select(Highlight).where(Highlight.passage_id.in_(passage_ids))):
        whole.setdefault((h.passage_id, h.start_offset, h.end_offset), h)
    tagged_ids = set(session.scalars(select(HighlightTag.highlight_id).where(HighlightTag.tag_id == tag.id)))
    created, tagged = [], []
    for pid, start, end in passages:
        h = whole.get((pid, start, end))
        if h is None:
            h = Highlight(passage_id=pid, start_offset=start, end_offset=end, memo="", created_by_id=actor.id)
            session.add(h)
            session.flush()
            created.append(h.id)
        elif h.id in tagged_ids:
            continue
        else:
            tagged.append(h.id)
        session.add(HighlightTag(highlight_id=h.id, tag_id=tag.id, polarity=polarity))
    reindex_passages(session, [pid for pid, _s, _e in passages])
    action = CodingAction(study_id=study.id, actor_id=actor.id, tag_id=tag.id, origin=origin,
                          created_highlights=created, tagged_highlights=tagged)
    session.add(action)
    session.flush()
    audit.record(session, actor, "highlight.bulk_tag", study_id=study.id, object_type="coding_action",
                 object_id=action.id, tag=tag.id, origin=origin, created=len(created), tagged=len(tagged))
    return action


def undo_bulk(session: Session, actor: User, study: Study, action_id: int) -> CodingAction:
    """Take back exactly what one step added: its tag on the highlights it tagged, and the
    highlights it made. Steps are undone latest first where they touch the same highlights
    (a later step's codings sit on them); work added by hand since (another tag, a memo, a
    citation as insight evidence) keeps its highlight, and only this step's tag leaves it."""
    from ..models import insight_highlight

    action = session.get(CodingAction, action_id)
    if action is None or action.study_id != study.id:
        raise NotFound("No such coding step in this study.")
    if action.undone_at is not None:
        raise Conflict("That coding step was already undone.")
    touched = set(action.created_highlights + action.tagged_highlights)
    for later in session.scalars(select(CodingAction).where(
            CodingAction.study_id == study.id, CodingAction.id > action.id, CodingAction.undone_at.is_(None))
            .order_by(CodingAction.id.desc())):
        if touched & set(later.created_highlights + later.tagged_highlights):
            raise Conflict(f"Step {later.id} coded the same passages after this one; undo step {later.id} first.")
    if touched:
        reindex_passages(session, session.scalars(select(Highlight.passage_id).where(Highlight.id.in_(touched))))
    if action.tag_id is not None and touched:
        session.execute(delete(HighlightTag).where(HighlightTag.tag_id == action.tag_id,
                                                   HighlightTag.highlight_id.in_(touched)))
    if action.created_highlights:
        created = action.created_highlights
        kept = set(session.scalars(select(HighlightTag.highlight_id).where(HighlightTag.highlight_id.in_(created))))
        kept |= set(session.scalars(select(insight_highlight.c.highlight_id).where(
            insight_highlight.c.highlight_id.in_(created))))
        for h in session.scalars(select(Highlight).where(Highlight.id.in_(created))).all():
            if h.id not in kept and not h.memo:
                session.delete(h)
    action.undone_at = utcnow()
    session.flush()
    audit.record(session, actor, "highlight.bulk_undo", study_id=study.id, object_type="coding_action",
                 object_id=action.id)
    return action


def recent_actions(session: Session, study_id: int, limit: int = 10) -> list[CodingAction]:
    return list(session.scalars(select(CodingAction).where(CodingAction.study_id == study_id)
                                .order_by(CodingAction.id.desc()).limit(limit)))


# ---------------------------------------------------------------- codebook files

CODEBOOK_COLUMNS = ["path", "description", "color"]


@dataclass
class CodebookImport:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def codebook_csv(session: Session, study_id: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CODEBOOK_COLUMNS, "system"])
    for tag in tags(session, study_id):
        writer.writerow([safe_cell(tag.path), safe_cell(tag.description), tag.color or "", "yes" if tag.is_system else ""])
    return out.getvalue()


def _upsert_path(session: Session, actor: User, study: Study, path: str, description: str, color: str | None,
                 result: CodebookImport) -> None:
    names = [" ".join(p.split()) for p in path.split("/")]
    if not all(names):
        raise ValidationError("The path is empty or has an empty part (such as “A//B”).")
    if names[0].lower() == DRIVER_SET.lower():
        result.unchanged += 1  # the locked set is the same in every study
        return
    parent_id = None
    for depth, name in enumerate(names):
        full = "/".join(names[:depth + 1])
        tag = session.scalar(select(Tag).where(Tag.study_id == study.id, func.lower(Tag.path) == full.lower()))
        last = depth == len(names) - 1
        if tag is None:
            tag = create_tag(session, actor, study, name, parent_id=parent_id,
                             description=description if last else "", color=color if last else None)
            if last:
                result.created += 1
        elif last:
            desc, _ = free_text(description, 2000, "description")
            col = _clean_color(color)
            if (desc and desc != tag.description) or (col and col != tag.color):
                update_tag(session, actor, tag, name=tag.name, parent_id=tag.parent_id,
                           description=desc or tag.description, color=col or tag.color)
                result.updated += 1
            else:
                result.unchanged += 1
        parent_id = tag.id


def import_codebook_csv(session: Session, actor: User, study: Study, data: bytes) -> CodebookImport:
    """Rows of path, description, color. Each row is created, updated, unchanged or rejected
    with its reason; rows read = the sum. Importing the same file again changes nothing."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("Save the codebook as UTF-8 CSV and upload it again.") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "path" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ValidationError("The codebook CSV needs a header row with a “path” column "
                              "(and optionally “description” and “color”).")
    result = CodebookImport()
    for number, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k}
        result.read += 1
        try:
            with session.begin_nested():
                _upsert_path(session, actor, study, unsafe_cell(row.get("path", "")),
                             unsafe_cell(row.get("description", "")), row.get("color") or None, result)
        except (ValidationError, Conflict) as exc:
            result.rejected.append((number, exc.message))
    audit.record(session, actor, "codebook.import", study_id=study.id, read=result.read, created=result.created,
                 updated=result.updated, rejected=len(result.rejected))
    return result


def codebook_qdc(session: Session, study_id: int) -> bytes:
    """The codebook as REFI-QDA ``.qdc`` (urn:QDA-XML:codebook:1.0)."""
    root = ET.Element("CodeBook", {"xmlns": QDA_NS, "origin": "research_repo"})
    codes = ET.SubElement(root, "Codes")
    code_elements(codes, tags(session, study_id))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def code_elements(parent_el, all_tags: list[Tag]) -> None:
    """Nested REFI-QDA ``Code`` elements for the tags, under ``parent_el`` (a ``Codes``)."""
    children: dict[int | None, list[Tag]] = {}
    for t in all_tags:
        children.setdefault(t.parent_id, []).append(t)

    def add(el, tag: Tag) -> None:
        attrs = {"guid": guid("tag", tag.id), "name": tag.name,
                 "isCodable": "false" if tag.is_system and not tag.driver else "true"}
        if tag.color:
            attrs["color"] = tag.color
        code = ET.SubElement(el, "Code", attrs)
        if tag.description:
            ET.SubElement(code, "Description").text = tag.description
        for child in children.get(tag.id, []):
            add(code, child)

    for tag in children.get(None, []):
        add(parent_el, tag)


def import_codebook_qdc(session: Session, actor: User, study: Study, data: bytes) -> CodebookImport:
    try:
        root = SafeET.fromstring(data)
    except Exception:  # noqa: BLE001 - any parse failure is the same message to the user
        raise ValidationError("That file is not a REFI-QDA codebook (.qdc): it is not well-formed XML.") from None
    ns = "{" + QDA_NS + "}"
    if root.tag not in (ns + "CodeBook", ns + "Project"):
        raise ValidationError("That file is not a REFI-QDA codebook: its root element is not CodeBook.")
    codes = root.find(f"{ns}Codes") if root.tag == ns + "CodeBook" else root.find(f"{ns}CodeBook/{ns}Codes")
    result = CodebookImport()
    if codes is None:
        return result

    def walk(el, prefix: str) -> None:
        for code in el.findall(f"{ns}Code"):
            name = (code.get("name") or "").replace("/", "-")
            path = f"{prefix}/{name}" if prefix else name
            result.read += 1
            desc_el = code.find(f"{ns}Description")
            color = code.get("color")
            if color and len(color) == 4:
                color = "#" + "".join(c * 2 for c in color[1:])
            try:
                with session.begin_nested():
                    _upsert_path(session, actor, study, path, (desc_el.text or "") if desc_el is not None else "",
                                 color, result)
            except (ValidationError, Conflict) as exc:
                result.rejected.append((result.read, f"{path}: {exc.message}"))
                continue
            walk(code, path)

    walk(codes, "")
    audit.record(session, actor, "codebook.import", study_id=study.id, read=result.read, created=result.created,
                 updated=result.updated, rejected=len(result.rejected))
    return result
