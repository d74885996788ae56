"""A preview of what de-identification will replace in a document, before anything is stored.

The server keeps nothing between the preview and the decision: the page it answers carries
the file back to the browser (base64 in a hidden field, with a keyed token over its digest)
and the proposed replacements; the browser sends the file again with the reviewer's
decisions, and the same deterministic pipeline runs once more with them applied (spans
rejected by their offsets, values added, terms marked never to redact in the study). The
page is sent with ``Cache-Control: no-store`` like every page.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass


from ...ingest.documents import read_document
from ...ingest.errors import UnreadableFile
from ...models import SourceKind, Study
from ..errors import ValidationError
from ..inputs import deidentifier
from .passages import StudyTerms, segment
from .uploads import RECORD_KINDS, IngestSettings, Upload, kind_for

MAX_PREVIEW_BYTES = 10 * 1024 * 1024
CONTEXT = 40


@dataclass(frozen=True)
class Proposed:
    start: int
    end: int
    kind: str
    score: float
    before: str
    value: str
    after: str

    @property
    def key(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class Preview:
    name: str
    kind: SourceKind
    data: str  # the file, base64
    token: str
    proposed: list[Proposed]  # least sure first


def token(settings: IngestSettings, study_id: int, kind: SourceKind, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return hmac.new(settings.hash_key, f"preview v1|{study_id}|{kind.value}|{digest}".encode(),
                    hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ExportPreview:
    """An export before its import: what each column is taken for, and its first records as
    they would be stored (de-identified), or the reason each would be rejected."""

    name: str
    kind: SourceKind
    data: str
    token: str
    records: int
    columns: list[tuple[str, str]]  # (column label as it may be shown, its role)
    rows: list  # records.Prepared, or (record number, reason)


FIRST_ROWS = 5


def propose_export(terms: StudyTerms, settings: IngestSettings, study: Study, upload: Upload, kind: SourceKind,
                   encoding: str | None = None, text_columns: list[str] | None = None) -> ExportPreview:
    """The column roles and first rows of an export as they would be stored; no database
    (``terms``: the study's, read by the caller), so no transaction is held meanwhile."""
    from ...ingest.mapping import build_mapping
    from ...ingest.records import BadRecord, read_table
    from .records import column_labels, prepare, shared_values

    if len(upload.data) > MAX_PREVIEW_BYTES:
        raise ValidationError(f"Preview an export of at most {MAX_PREVIEW_BYTES // 2**20} MB, or import it directly.")
    table = read_table(upload.name, upload.data, encoding=encoding)
    mapping = build_mapping(upload.name, table.columns, text_columns=text_columns)
    labels = column_labels(table.columns)
    meta = {column: role for role, column in mapping.meta.items()}
    a11 = {column: driver for driver, column in mapping.a11.items()}

    def role(column: str) -> str:
        if column in mapping.text:
            return "text (de-identified)"
        if column in meta:
            return f"metadata: {meta[column].replace('_', ' ')}"
        if column in a11:
            return f"A-11 score: {a11[column]}"
        if column == mapping.record_id:
            return "record id (only a keyed hash is kept, to skip duplicates)"
        if column in mapping.names:
            return "a person's name: never stored, redacted wherever it appears in the text"
        if column in mapping.dropped:
            return "identifies someone: never stored"
        return "not recognised: not stored"

    shared = shared_values(table.records, mapping)
    rows = []
    for record in table.records[:FIRST_ROWS]:
        if isinstance(record, BadRecord):
            rows.append((record.number, f"{record.where} {record.reason}"))
            continue
        outcome = prepare(record, mapping, settings, {}, shared, terms, kind.value)
        rows.append((record.number, f"{record.where} {outcome}") if isinstance(outcome, str) else outcome)
    return ExportPreview(upload.name, kind, base64.b64encode(upload.data).decode("ascii"),
                         token(settings, study.id, kind, upload.data), len(table),
                         [(labels[c], role(c)) for c in table.columns], rows)


def propose(terms: StudyTerms, settings: IngestSettings, study: Study, upload: Upload, kind: SourceKind | None,
            encoding: str | None = None) -> Preview:
    """What de-identification would replace in one document, least sure first; no database."""
    kind = kind_for(upload.name, kind)
    if kind in RECORD_KINDS:
        raise ValidationError("An export is previewed with propose_export.")
    if len(upload.data) > MAX_PREVIEW_BYTES:
        raise ValidationError(f"Preview a document of at most {MAX_PREVIEW_BYTES // 2**20} MB, or upload it directly.")
    doc = read_document(upload.name, upload.data, encoding=encoding)
    seg = segment(doc.text, doc.turns, kind, settings.max_passage_chars)
    if not seg.spans:
        raise UnreadableFile(upload.name, "has no text to store.")
    found = deidentifier().find(seg.text, seg.names, roster=terms.roster, keep=terms.keep)
    text = seg.text
    proposed = [Proposed(s.start, s.end, s.kind.value, round(s.score, 2), text[max(0, s.start - CONTEXT):s.start],
                         text[s.start:s.end], text[s.end:s.end + CONTEXT]) for s in found]
    proposed.sort(key=lambda p: (p.score, p.start))
    return Preview(upload.name, kind, base64.b64encode(upload.data).decode("ascii"),
                   token(settings, study.id, kind, upload.data), proposed)


def returned_file(settings: IngestSettings, study: Study, kind: SourceKind, data_b64: str, given_token: str) -> bytes:
    """The file the preview carried, checked against its token."""
    try:
        data = base64.b64decode(data_b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        data = None
    if data is None or not hmac.compare_digest(token(settings, study.id, kind, data), given_token or ""):
        raise ValidationError("The file is not the one that was previewed; upload and preview it again.")
    return data


def rejected(offered_keys: list[str], kept_keys: list[str]) -> frozenset[tuple[int, int]]:
    """The proposed spans the reviewer did not keep ticked, as offsets. The preview page sends
    back every key it offered, so the engine need not run a second time to list them; a key
    that names no span the engine finds again matches nothing."""
    kept = set(kept_keys)
    out = set()
    for key in offered_keys:
        start, sep, end = key.partition("-")
        if key not in kept and sep and start.isdigit() and end.isdigit():
            out.add((int(start), int(end)))
    return frozenset(out)
