"""Receiving one uploaded file, whatever it is: the one use case behind the upload page and
``research-repo import``. A document is de-identified and stored in the caller's
transaction; an export becomes an import plan, whose records the caller runs
(``imports.run_import``) once that transaction has committed the import's row.

The slow part (parsing, and for a document de-identifying) is ``prepare``, which needs no
database: callers run it before their write transaction begins, so one large file does not
hold SQLite's write lock while other uploads and sign-ins wait for it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from ...models import SourceKind, Study, User
from ...ingest.records import Table
from .documents import DocumentOutcome, ReadDocument, ingest_document, read_upload
from .imports import ImportPlan, read_export, start_import
from .passages import StudyTerms
from .uploads import RECORD_KINDS, IngestSettings, Upload, kind_for


@dataclass(frozen=True)
class DocumentDetails:
    """What a person may say about a document as it is uploaded."""

    title: str | None = None
    collected_on: date | None = None
    channel: str | None = None
    segment: str | None = None
    journey_stage: str | None = None


@dataclass(frozen=True)
class ExportDetails:
    """How to read an export: its sheet, and the columns that hold text, metadata and names."""

    sheet: str | None = None
    text_columns: list[str] | None = None
    meta: dict[str, str] | None = None
    drop: list[str] = field(default_factory=list)
    name_columns: list[str] = field(default_factory=list)
    id_column: str | None = None
    mapping_file: dict | None = None


@dataclass
class Received:
    """One of the two: a document stored (or found already stored), or an import to run."""

    document: DocumentOutcome | None = None
    plan: ImportPlan | None = None


@dataclass(frozen=True)
class Prepared:
    """One file read (an export) or read and de-identified (a document), nothing stored."""

    document: ReadDocument | None = None
    table: Table | None = None


def prepare(settings: IngestSettings, terms: StudyTerms, upload: Upload, kind: SourceKind | None = None, *,
            encoding: str | None = None, export: ExportDetails = ExportDetails()) -> Prepared:
    """The CPU work of ``receive``, outside any transaction. A file-level problem raises
    ``UnreadableFile`` here, before anything is written."""
    source_kind = kind_for(upload.name, kind)
    if source_kind in RECORD_KINDS:
        return Prepared(table=read_export(upload, encoding, export.sheet))
    return Prepared(document=read_upload(settings, terms, upload, source_kind, encoding))


def receive(session: Session, settings: IngestSettings, study: Study, actor: User | None, upload: Upload,
            kind: SourceKind | None = None, *, encoding: str | None = None,
            document: DocumentDetails = DocumentDetails(), export: ExportDetails = ExportDetails(),
            prepared: Prepared | None = None) -> Received:
    """Store ``upload`` (a document) or start its import (an export). ``prepared``: what
    ``prepare`` made of it, so only the storing happens in ``session``'s transaction."""
    prepared = prepared or Prepared()
    source_kind = kind_for(upload.name, kind)
    if source_kind in RECORD_KINDS:
        return Received(plan=start_import(
            session, settings, study, actor, upload, source_kind, encoding=encoding, sheet=export.sheet,
            text_columns=export.text_columns, meta=export.meta, drop=export.drop, name_columns=export.name_columns,
            id_column=export.id_column, mapping_file=export.mapping_file, table=prepared.table))
    return Received(document=ingest_document(
        session, settings, study, actor, upload, source_kind, title=document.title,
        collected_on=document.collected_on, channel=document.channel, segment_name=document.segment,
        journey_stage=document.journey_stage, encoding=encoding, read=prepared.document))
