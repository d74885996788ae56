"""Codebook files: CSV (path, description, color) and REFI-QDA .qdc, exported and imported
with a report of every row; stable REFI-QDA GUIDs for our objects (exports use them too)."""
from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as SafeET
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...models import Study, Tag, User
from .. import audit
from ..cells import safe_cell, unsafe_cell
from ..errors import Conflict, ValidationError
from ..inputs import free_text
from .codebook import DRIVER_SET, clean_color, create_tag, tags, update_tag


QDA_NS = "urn:QDA-XML:codebook:1.0"


# Stable REFI-QDA GUIDs for our objects: uuid5 of the object's kind and id under this namespace.
GUID_NS = uuid.UUID("6f1c2a4e-9a7b-4c55-8d0e-3b6f0e7c2d11")


def guid(kind: str, object_id: int) -> str:
    return str(uuid.uuid5(GUID_NS, f"{kind}:{object_id}"))


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
            col = clean_color(color)
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
