"""Documents (notes, transcripts): one file, one source, stored in one transaction; the same
file again returns the stored source. Deleting a source takes its passages out of the index."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nlp.deid.engine import Result

from ...ingest.documents import extension, read_document
from ...ingest.errors import UnreadableFile
from ...ingest.records import RECORD_FORMATS
from ...models import (
    Passage, Source, SourceKind, Study, User,
)
from .. import audit, outbox
from ..errors import ValidationError
from ..inputs import deidentifier, short_value
from .passages import Review, StudyTerms, add_passages, deidentified_passages, passage_rows, segment, study_terms
from .uploads import RECORD_KINDS, IngestSettings, Upload, kind_for


def _clean_title(title: str | None) -> str | None:
    if not title or not title.strip():
        return None
    return deidentifier().deidentify(" ".join(title.split())[:300]).text


@dataclass
class DocumentOutcome:
    source: Source
    created: bool
    passages: int


@dataclass(frozen=True)
class ReadDocument:
    """A document read, cut and de-identified, not yet stored: the CPU work of an upload,
    done before the write transaction begins (``read_upload``). Holds no identified text."""

    key: str
    format: str
    encoding: str | None
    result: Result
    spans: list[tuple[int, int, str | None]]


def read_upload(settings: IngestSettings, terms: StudyTerms, upload: Upload, kind: SourceKind,
                encoding: str | None = None) -> ReadDocument:
    """Parse, segment and de-identify one document with the study's ``terms``; no database."""
    doc = read_document(upload.name, upload.data, encoding=encoding)
    seg = segment(doc.text, doc.turns, kind, settings.max_passage_chars)
    if not seg.spans:
        raise UnreadableFile(upload.name, "has no text to store.")
    result, spans = deidentified_passages(seg, terms=terms)
    return ReadDocument(settings.key(upload.data), doc.format, doc.encoding, result, spans)


def ingest_document(
    session: Session,
    settings: IngestSettings,
    study: Study,
    actor: User | None,
    upload: Upload,
    kind: SourceKind | None = None,
    *,
    title: str | None = None,
    collected_on: date | None = None,
    channel: str | None = None,
    segment_name: str | None = None,
    journey_stage: str | None = None,
    encoding: str | None = None,
    review: Review | None = None,
    read: ReadDocument | None = None,
) -> DocumentOutcome:
    """Store one document, de-identified. The same file again returns the stored source.
    ``read``: the document as ``read_upload`` left it, so only the storing happens here."""
    kind = kind_for(upload.name, kind)
    if kind in RECORD_KINDS or extension(upload.name) in RECORD_FORMATS:
        raise ValidationError(f"{upload.name}: exports are imported with ingest.start_import.")
    key = settings.key(upload.data)
    existing = session.scalar(select(Source).where(Source.study_id == study.id, Source.content_sha256 == key))
    if existing is not None:
        return DocumentOutcome(existing, False, len(existing.passages))
    if read is None:
        terms = study_terms(session, study.id, settings)
        if review is not None:
            terms = replace(terms, review=review)
        read = read_upload(settings, terms, upload, kind, encoding)
    result, spans = read.result, read.spans
    number = session.scalar(select(func.count()).select_from(Source).where(
        Source.study_id == study.id, Source.kind == kind)) + 1
    source = Source(
        study_id=study.id, kind=kind, format=read.format,
        title=_clean_title(title) or f"{kind.label} {number}",
        collected_on=collected_on, channel=short_value(channel, 60), segment=short_value(segment_name, 120),
        journey_stage=short_value(journey_stage, 120), content_sha256=key, text=result.text,
        redaction_summary=result.summary(), attributes={"encoding": read.encoding} if read.encoding else {},
        created_by_id=actor.id if actor else None,
    )
    session.add(source)
    session.flush()
    rows = add_passages(session, passage_rows(source, spans), study.id)
    audit.record(session, actor, "source.create", study_id=study.id, object_type="source", object_id=source.id,
                 kind=kind.value, format=read.format, passages=len(rows), redactions=len(result.replacements))
    return DocumentOutcome(source, True, len(rows))


def delete_source(session: Session, actor: User, source: Source) -> int:
    """Delete a source and its passages; the index loses them through the outbox (and the
    index writer merges, so their text leaves the index files). Returns the passage count."""
    passage_ids = list(session.scalars(select(Passage.id).where(Passage.source_id == source.id)))
    outbox.deleted(session, passage_ids)
    audit.record(session, actor, "source.delete", study_id=source.study_id, object_type="source", object_id=source.id,
                 passages=len(passage_ids))
    session.delete(source)
    session.flush()
    return len(passage_ids)
