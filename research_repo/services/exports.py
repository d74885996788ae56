"""Exports of a study's synthesis: highlights and insights as CSV and XLSX (every cell guarded
against formula injection), insight briefs as .docx, and a REFI-QDA project (.qdpx) that
NVivo, ATLAS.ti, MAXQDA and QualCoder open. Only de-identified text is ever read here."""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, undefer

from ..models import Highlight, HighlightTag, Insight, Passage, Source, Study, Tag, User
from ..models._types import utcnow
from . import coding, insights
from .cells import safe_cell

PROJECT_NS = "urn:QDA-XML:project:1.0"


@dataclass
class Table:
    name: str
    header: list[str]
    rows: list[list]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def highlights_table(session: Session, study_id: int) -> Table:
    """One row per highlight: plain column reads (no ORM objects), tags in a second query."""
    tags: dict[int, list[str]] = {}
    for hid, path, polarity in session.execute(
            select(HighlightTag.highlight_id, Tag.path, HighlightTag.polarity).join(Tag, Tag.id == HighlightTag.tag_id)
            .where(Tag.study_id == study_id).order_by(Tag.path)):
        tags.setdefault(hid, []).append(path + (f" ({polarity.value})" if polarity else ""))
    query = (select(Highlight.id, Source.id, Source.title, Source.kind, Source.channel, Passage.id,
                    Highlight.start_offset, Highlight.end_offset, Passage.start_offset, Passage.text, Highlight.memo,
                    Highlight.created_at)
             .join(Passage, Passage.id == Highlight.passage_id).join(Source, Source.id == Passage.source_id)
             .where(Source.study_id == study_id).order_by(Source.id, Highlight.start_offset, Highlight.id))
    rows = []
    for hid, sid, title, kind, channel, pid, start, end, p_start, p_text, memo, created in session.execute(query):
        rows.append([hid, sid, title, kind.value, channel or "", pid, start, end, p_text[start - p_start:end - p_start],
                     "; ".join(tags.get(hid, [])), memo, _when(created)])
    return Table("Highlights", ["highlight_id", "source_id", "source", "kind", "channel", "passage_id", "start", "end",
                                "text", "tags", "memo", "created_at"], rows)


def insights_table(session: Session, study_id: int) -> Table:
    rows = []
    for i in insights.list_for_study(session, study_id):
        rows.append([i.id, i.statement, i.status.value, i.service or "", i.journey_stage or "", i.segment or "",
                     "; ".join(f"{d.driver.value} ({d.polarity.value})" for d in i.drivers),
                     "; ".join(f"{q.agency} {q.number}" for q in i.questions), insights.evidence_count(i),
                     _when(i.created_at), _when(i.reviewed_at), _when(i.published_at)])
    return Table("Insights", ["insight_id", "statement", "status", "service", "journey_stage", "segment", "drivers",
                              "questions", "evidence", "created_at", "reviewed_at", "published_at"], rows)


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def to_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(table.name)
    ws.append(table.header)
    for row in table.rows:
        # openpyxl stores a string starting with "=" as a formula; safe_cell prevents that.
        ws.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- briefs

@dataclass
class BriefItem:
    insight: Insight
    study: Study
    quotes: list[insights.Quote]


def brief_items(session: Session, insight_rows: list[Insight]) -> list[BriefItem]:
    insights.preload(session, insight_rows)
    studies = {}
    out = []
    for i in insight_rows:
        study = studies.setdefault(i.study_id, session.get(Study, i.study_id))
        out.append(BriefItem(i, study, insights.quotes(session, i)))
    return out


def brief_docx(title: str, subtitle: str, items: list[BriefItem]) -> bytes:
    from docx import Document

    doc = Document()
    doc.core_properties.title = title
    doc.add_heading(title, level=0)
    if subtitle:
        doc.add_paragraph(subtitle)
    if not items:
        doc.add_paragraph("No insights yet.")
    for n, item in enumerate(items, start=1):
        i = item.insight
        doc.add_heading(f"Insight {n}: {i.statement}", level=1)
        facts = [f"Status: {i.status.value}", f"Study: {item.study.name}"]
        if item.study.omb_control_number:
            facts.append(f"OMB control number {item.study.omb_control_number}")
        if i.service:
            facts.append(f"Service: {i.service}")
        if i.journey_stage:
            facts.append(f"Journey stage: {i.journey_stage}")
        if i.segment:
            facts.append(f"Segment: {i.segment}")
        doc.add_paragraph(" · ".join(facts))
        if i.drivers:
            doc.add_paragraph("A-11 drivers: " + ", ".join(f"{d.driver.label} ({d.polarity.value})" for d in i.drivers))
        if i.questions:
            doc.add_paragraph("Answers: " + "; ".join(f"{q.agency} {q.number}" for q in i.questions))
        doc.add_heading("Evidence", level=2)
        if not item.quotes:
            doc.add_paragraph("No evidence linked yet.")
        for q in item.quotes:
            doc.add_paragraph(f"“{q.text}”", style="Intense Quote")
            doc.add_paragraph(f"{q.source_title} ({q.kind}{', ' + q.channel if q.channel else ''}), {q.study_name}")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- REFI-QDA project

def _el(parent, tag: str, attrs: dict | None = None, text: str | None = None):
    el = ET.SubElement(parent, tag, {k: v for k, v in (attrs or {}).items() if v is not None})
    if text is not None:
        el.text = text
    return el


def qdpx(session: Session, study: Study) -> bytes:
    """A REFI-QDA project: ``project.qde`` (QDA-XML 1.0) and each source's de-identified text
    under ``sources/``, with highlights as text selections coded with the codebook, memos and
    insights as notes."""
    all_tags = coding.tags(session, study.id)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(
        select(Highlight.created_by_id).join(Passage).join(Source).where(Source.study_id == study.id))))}
    root = ET.Element("Project", {"xmlns": PROJECT_NS, "name": study.name, "origin": "research_repo",
                                  "creationDateTime": _when(study.created_at), "modifiedDateTime": _when(utcnow())})
    if users:
        users_el = _el(root, "Users")
        for u in users.values():
            _el(users_el, "User", {"guid": coding.guid("user", u.id), "name": u.display_name})
    codebook = _el(root, "CodeBook")
    coding.code_elements(_el(codebook, "Codes"), all_tags)

    notes: list[tuple[str, str, str]] = []  # guid, name, text
    files: dict[str, str] = {}
    sources = list(session.scalars(select(Source).where(Source.study_id == study.id).options(undefer(Source.text))
                                   .order_by(Source.id)))
    by_source: dict[int, list[Highlight]] = {}
    for h, source_id in session.execute(
            select(Highlight, Passage.source_id).join(Passage, Passage.id == Highlight.passage_id)
            .join(Source, Source.id == Passage.source_id).where(Source.study_id == study.id)
            .options(selectinload(Highlight.tags)).order_by(Highlight.start_offset, Highlight.id)):
        by_source.setdefault(source_id, []).append(h)
    if sources:
        sources_el = _el(root, "Sources")
        for src in sources:
            sguid = coding.guid("source", src.id)
            files[f"sources/{sguid}.txt"] = src.text
            el = _el(sources_el, "TextSource", {"guid": sguid, "name": src.title,
                                                "plainTextPath": f"internal://{sguid}.txt",
                                                "creationDateTime": _when(src.created_at)})
            desc = ", ".join(x for x in (src.kind.label, src.channel, src.segment, src.journey_stage,
                                         src.collected_on.isoformat() if src.collected_on else None) if x)
            if desc:
                _el(el, "Description", text=desc)
            for h in by_source.get(src.id, []):
                hguid = coding.guid("highlight", h.id)
                creator = coding.guid("user", h.created_by_id) if h.created_by_id in users else None
                sel = _el(el, "PlainTextSelection", {
                    "guid": hguid, "name": src.text[h.start_offset:h.end_offset][:60],
                    "startPosition": str(h.start_offset), "endPosition": str(h.end_offset),
                    "creatingUser": creator, "creationDateTime": _when(h.created_at)})
                for link in h.tags:
                    c = _el(sel, "Coding", {"guid": coding.guid(f"coding:{link.tag_id}", h.id),
                                            "creatingUser": creator, "creationDateTime": _when(h.created_at)})
                    _el(c, "CodeRef", {"targetGUID": coding.guid("tag", link.tag_id)})
                if h.memo:
                    nguid = coding.guid("memo", h.id)
                    notes.append((nguid, f"Memo on highlight {h.id}", h.memo))
                    _el(sel, "NoteRef", {"targetGUID": nguid})
    for i in insights.list_for_study(session, study.id):
        lines = [i.statement, "", f"Status: {i.status.value}"]
        lines += [f"Driver: {d.driver.label} ({d.polarity.value})" for d in i.drivers]
        lines += [f"Answers {q.agency} {q.number}: {q.text}" for q in i.questions]
        lines += [f"Evidence: “{q.text}” ({q.source_title})" for q in insights.quotes(session, i)]
        notes.append((coding.guid("insight", i.id), f"Insight {i.id}", "\n".join(lines)))
    if notes:
        notes_el = _el(root, "Notes")
        for nguid, name, text in notes:
            note = _el(notes_el, "Note", {"guid": nguid, "name": name})
            _el(note, "PlainTextContent", text=text)
    if study.purpose:
        _el(root, "Description", text=study.purpose)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("project.qde", ET.tostring(root, encoding="utf-8", xml_declaration=True))
        for name, text in files.items():
            z.writestr(name, text.encode("utf-8"))
    return out.getvalue()


# ---- one study export, by format: the page's download links and `research-repo export`

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FORMATS = ("qdpx", "highlights.csv", "highlights.xlsx", "insights.csv", "insights.xlsx", "codebook.csv",
           "codebook.qdc", "brief.docx")


@dataclass(frozen=True)
class Export:
    body: bytes
    mime: str
    filename: str


def study_export(session: Session, study: Study, fmt: str) -> Export:
    """A study's synthesis in one of ``FORMATS``; it only reads (a read session will do)."""
    from .errors import NotFound

    stem = f"study-{study.id}"
    if fmt == "qdpx":
        return Export(qdpx(session, study), "application/zip", f"{stem}.qdpx")
    if fmt == "codebook.csv":
        return Export(coding.codebook_csv(session, study.id).encode(), "text/csv", f"codebook-{stem}.csv")
    if fmt == "codebook.qdc":
        return Export(coding.codebook_qdc(session, study.id), "application/xml", f"codebook-{stem}.qdc")
    if fmt == "brief.docx":
        from ..models import InsightStatus

        rows = [i for i in insights.list_for_study(session, study.id) if i.status is not InsightStatus.DRAFT]
        return Export(brief_docx(f"{study.name}: insight brief", study.purpose or study.service,
                                 brief_items(session, rows)), DOCX, f"brief-{stem}.docx")
    what, _, kind = fmt.partition(".")
    tables = {"highlights": highlights_table, "insights": insights_table}
    if what not in tables or kind not in ("csv", "xlsx"):
        raise NotFound("Export highlights or insights as .csv or .xlsx, the codebook as .csv or .qdc, the project "
                       "as .qdpx, or a brief as .docx.")
    table = tables[what](session, study.id)
    if kind == "csv":
        return Export(to_csv(table).encode(), "text/csv", f"{stem}-{what}.csv")
    return Export(to_xlsx(table), XLSX, f"{stem}-{what}.xlsx")
