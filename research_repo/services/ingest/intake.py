"""Receiving one uploaded file, whatever it is: the one use case behind the upload page and
``research-repo import``. A document is de-identified and stored in the caller's
transaction; an export becomes an import plan, whose records the caller runs
(``imports.run_import``) once that transaction has committed the import's row."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from ...models import SourceKind, Study, User
from .documents import DocumentOutcome, ingest_document
from .imports import ImportPlan, start_import
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


def receive(session: Session, settings: IngestSettings, study: Study, actor: User | None, upload: Upload,
            kind: SourceKind | None = None, *, encoding: str | None = None,
            document: DocumentDetails = DocumentDetails(), export: ExportDetails = ExportDetails()) -> Received:
    source_kind = kind_for(upload.name, kind)
    if source_kind in RECORD_KINDS:
        return Received(plan=start_import(
            session, settings, study, actor, upload, source_kind, encoding=encoding, sheet=export.sheet,
            text_columns=export.text_columns, meta=export.meta, drop=export.drop, name_columns=export.name_columns,
            id_column=export.id_column, mapping_file=export.mapping_file))
    return Received(document=ingest_document(
        session, settings, study, actor, upload, source_kind, title=document.title,
        collected_on=document.collected_on, channel=document.channel, segment_name=document.segment,
        journey_stage=document.journey_stage, encoding=encoding))
