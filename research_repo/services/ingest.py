"""Ingest: parse, segment, de-identify, store, write the index outbox.

Raw text exists only in memory here. What reaches the database is the de-identified canonical
text, its passages (slices of it), non-identifying metadata, keyed hashes for de-duplication,
and a redaction summary with counts and offsets.

Documents (notes, transcripts) are stored in one transaction. Exports (tickets, survey
comments) are imports: chunks of records, each chunk committed with the import's cursor, so a
crash loses at most the chunk in flight and running the same file again resumes after the
last committed chunk (re-reading it from the file; nothing raw was kept to resume from).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nlp.deid.engine import Deidentifier, Result
from nlp.segment import NUMBERED, ROLE_WORDS, Piece, assign_roles, paragraphs, speaker_turns, split_long

from ..ingest.documents import DOCUMENT_FORMATS, extension, read_document
from ..ingest.errors import UnreadableFile
from ..ingest.mapping import Mapping, build_mapping, known_column
from ..ingest.records import RECORD_FORMATS, BadRecord, Record, Table, parse_datetime, read_table
from ..models import (
    ImportRejection,
    ImportRun,
    ImportStatus,
    Job,
    JobStatus,
    Passage,
    Source,
    SourceKind,
    Study,
    User,
)
from . import audit, outbox
from .cells import safe_cell
from .errors import Conflict, ValidationError

ROLES = frozenset(ROLE_WORDS.values()) | {f"P{n}" for n in range(1, 1000)}
TRANSCRIPT_KINDS = (SourceKind.INTERVIEW, SourceKind.FOCUS_GROUP, SourceKind.USABILITY, SourceKind.OBSERVATION)
RECORD_KINDS = (SourceKind.TICKET, SourceKind.SURVEY)

_deid_lock = threading.Lock()
_deid: Deidentifier | None = None


def deidentifier() -> Deidentifier:
    """One fitted de-identifier per process (the models load once)."""
    global _deid
    with _deid_lock:
        if _deid is None:
            _deid = Deidentifier(allow=ROLES).fit()
        return _deid


@dataclass(frozen=True)
class IngestSettings:
    """What ingest needs from the app's configuration."""

    hash_key: bytes
    chunk_size: int = 500
    max_passage_chars: int = 1200

    @classmethod
    def from_config(cls, config) -> IngestSettings:
        secret = str(config["SECRET_KEY"]).encode()
        return cls(
            hash_key=hmac.new(secret, b"research-repo content key v1", hashlib.sha256).digest(),
            chunk_size=int(config.get("IMPORT_CHUNK_SIZE", 500)),
            max_passage_chars=int(config.get("MAX_PASSAGE_CHARS", 1200)),
        )

    def key(self, data: bytes) -> str:
        return hmac.new(self.hash_key, data, hashlib.sha256).hexdigest()


@dataclass
class Upload:
    """A file held in memory: never spooled to disk."""

    name: str
    data: bytes


def kind_for(name: str, kind: SourceKind | None) -> SourceKind:
    fmt = extension(name)
    if kind is not None:
        if fmt in RECORD_FORMATS and kind not in RECORD_KINDS:
            raise UnreadableFile(name, f"is an export ({fmt}); import it as tickets or survey comments.")
        if fmt in DOCUMENT_FORMATS and kind in RECORD_KINDS:
            raise UnreadableFile(name, f"is a document ({fmt}); tickets and survey comments come as csv, json or xlsx.")
        return kind
    if fmt in RECORD_FORMATS:
        return SourceKind.TICKET
    if fmt in DOCUMENT_FORMATS:
        return SourceKind.INTERVIEW
    raise UnreadableFile(name, "is not a type we read: documents are "
                               f"{', '.join(DOCUMENT_FORMATS)}; exports are {', '.join(RECORD_FORMATS)}.", status=415)


# ---- Offsets through de-identification


def move_offset(pos: int, is_end: bool, edits: Sequence[tuple[int, int, int, int]]) -> int:
    """Map an offset through sorted edits ``(start, end, new_start, new_end)``. A boundary that
    falls inside an edited span moves to the new span's edge, so a passage never cuts a marker."""
    shift = 0
    for start, end, new_start, new_end in edits:
        if end <= pos:
            shift = new_end - end
            continue
        if start < pos < end:
            return new_end if is_end else new_start
        break
    return pos + shift


@dataclass
class Segmented:
    """Raw canonical text with passages (offsets into it) and speaker roles."""

    text: str
    spans: list[tuple[int, int, str | None]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def segment(doc_text: str, turns: list[Piece] | None, kind: SourceKind, max_chars: int) -> Segmented:
    if turns is None and kind in TRANSCRIPT_KINDS:
        turns = speaker_turns(doc_text)
    pieces = turns if turns is not None else paragraphs(doc_text, max_chars=max_chars)
    labels = [p.speaker for p in pieces if p.speaker]
    roles = assign_roles(labels)
    # Labels that are not role words or numbers are names: every mention of them is redacted.
    names = sorted({lab for lab in labels if lab.casefold().rstrip(".") not in ROLE_WORDS and not NUMBERED.match(lab)})
    out = Segmented("")
    parts: list[str] = []
    pos = 0
    for piece in pieces:
        for sub in split_long(doc_text, piece.start, piece.end, max_chars, piece.speaker):
            role = roles.get(sub.speaker) if sub.speaker else None
            prefix = f"{role}: " if role else ""
            body = doc_text[sub.start:sub.end]
            parts.append(prefix + body)
            out.spans.append((pos + len(prefix), pos + len(prefix) + len(body), role))
            pos += len(prefix) + len(body) + 2
    out.text = "\n\n".join(parts)
    out.names = names
    return out


def _deidentified_passages(seg: Segmented, names: Iterable[str] = ()) -> tuple[Result, list[tuple[int, int, str | None]]]:
    result = deidentifier().deidentify(seg.text, names=[*seg.names, *names])
    edits = [(r.start, r.end, r.new_start, r.new_end) for r in result.replacements]
    spans = []
    last = 0
    for start, end, role in seg.spans:
        new_start, new_end = max(move_offset(start, False, edits), last), move_offset(end, True, edits)
        if new_end > new_start:
            spans.append((new_start, new_end, role))
            last = new_end
    return result, spans


def _passage_rows(source: Source, spans: list[tuple[int, int, str | None]]) -> list[Passage]:
    """Passages as slices of the source's canonical text (``source.id`` must be set)."""
    return [
        Passage(source_id=source.id, position=i, speaker_role=role, text=source.text[start:end],
                start_offset=start, end_offset=end)
        for i, (start, end, role) in enumerate(spans)
    ]


def _add_passages(session: Session, passages: list[Passage], study_id: int) -> list[Passage]:
    """Store passages and, in the same transaction, their index-outbox rows and placement job."""
    session.add_all(passages)
    session.flush()
    outbox.added(session, [p.id for p in passages], study_id=study_id)
    return passages


def _clean_title(title: str | None) -> str | None:
    if not title or not title.strip():
        return None
    return deidentifier().deidentify(" ".join(title.split())[:300]).text


# ---- Documents


@dataclass
class DocumentOutcome:
    source: Source
    created: bool
    passages: int


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
) -> DocumentOutcome:
    """Store one document, de-identified. The same file again returns the stored source."""
    kind = kind_for(upload.name, kind)
    if kind in RECORD_KINDS or extension(upload.name) in RECORD_FORMATS:
        raise ValidationError(f"{upload.name}: exports are imported with ingest.start_import.")
    key = settings.key(upload.data)
    existing = session.scalar(select(Source).where(Source.study_id == study.id, Source.content_sha256 == key))
    if existing is not None:
        return DocumentOutcome(existing, False, len(existing.passages))
    doc = read_document(upload.name, upload.data, encoding=encoding)
    seg = segment(doc.text, doc.turns, kind, settings.max_passage_chars)
    if not seg.spans:
        raise UnreadableFile(upload.name, "has no text to store.")
    result, spans = _deidentified_passages(seg)
    number = session.scalar(select(func.count()).select_from(Source).where(
        Source.study_id == study.id, Source.kind == kind)) + 1
    source = Source(
        study_id=study.id, kind=kind, format=doc.format,
        title=_clean_title(title) or f"{kind.label} {number}",
        collected_on=collected_on, channel=_short(channel, 60), segment=_short(segment_name, 120),
        journey_stage=_short(journey_stage, 120), content_sha256=key, text=result.text,
        redaction_summary=result.summary(), attributes={"encoding": doc.encoding} if doc.encoding else {},
        created_by_id=actor.id if actor else None,
    )
    session.add(source)
    session.flush()
    rows = _add_passages(session, _passage_rows(source, spans), study.id)
    audit.record(session, actor, "source.create", study_id=study.id, object_type="source", object_id=source.id,
                 kind=kind.value, format=doc.format, passages=len(rows), redactions=len(result.replacements))
    return DocumentOutcome(source, True, len(rows))


def _short(value: str | None, limit: int) -> str | None:
    """A metadata value with its whitespace collapsed, de-identified, cut to ``limit``."""
    if value is None or not str(value).strip():
        return None
    return _deid_value(" ".join(str(value).split()))[:limit]


# ---- Imports of exports


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(run: ImportRun, now: datetime) -> bool:
    if not run.owner:
        return False
    host, _, pid = run.owner.rpartition(":")
    if host == socket.gethostname():
        if int(pid) == os.getpid():
            return run.id in _active_here
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True
    beat = run.heartbeat_at
    return beat is not None and now - beat < timedelta(minutes=2)


_active_here: set[int] = set()  # import ids this process is running now


@dataclass
class ImportPlan:
    """An import ready to run: its row (committed by the caller) and the parsed file in memory."""

    run: ImportRun
    table: Table | None
    mapping: Mapping | None
    resumed: bool = False
    already_done: bool = False


def start_import(
    session: Session,
    settings: IngestSettings,
    study: Study,
    actor: User | None,
    upload: Upload,
    kind: SourceKind | None = None,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    text_columns: list[str] | None = None,
    meta: dict[str, str] | None = None,
    drop: list[str] | None = None,
    name_columns: list[str] | None = None,
    id_column: str | None = None,
    mapping_file: dict | None = None,
) -> ImportPlan:
    """Check the file, then create (or take over, to resume) its import. File-level problems
    raise ``UnreadableFile`` before anything is written."""
    kind = kind_for(upload.name, kind)
    if kind not in RECORD_KINDS:
        raise UnreadableFile(upload.name, "is an export; import it as tickets or survey comments.")
    key = settings.key(upload.data)
    run = session.scalar(select(ImportRun).where(ImportRun.study_id == study.id, ImportRun.content_key == key))
    now = datetime.now(UTC)
    if run is not None and run.status is ImportStatus.DONE:
        return ImportPlan(run, None, None, already_done=True)
    if run is not None and run.status is ImportStatus.RUNNING and _owner_alive(run, now):
        raise Conflict(f"{upload.name}: this file is being imported now (import {run.id}); wait for it to finish.")
    table = read_table(upload.name, upload.data, encoding=encoding, sheet=sheet)
    if run is not None:
        mapping = restored_mapping(run.mapping, table.columns)
        if len(table) != run.records_total:
            raise Conflict(f"{upload.name}: this file now reads as {len(table)} records, not {run.records_total}; "
                           "it cannot resume. Ask an admin to check the reader version.")
    else:
        mapping = build_mapping(upload.name, table.columns, text_columns=text_columns, meta=meta, drop=drop,
                                name_columns=name_columns, id_column=id_column, mapping_file=mapping_file)
        run = ImportRun(
            study_id=study.id, kind=kind, format=table.format, content_key=key, status=ImportStatus.RUNNING,
            records_total=len(table), records_read=0, records_stored=0, records_rejected=0,
            mapping=stored_mapping(mapping, table.columns), stats={"encoding": table.encoding, "unparsed_dates": 0},
            created_by_id=actor.id if actor else None,
        )
        session.add(run)
        session.flush()
        audit.record(session, actor, "import.start", study_id=study.id, object_type="import", object_id=run.id,
                     kind=kind.value, format=table.format, records=len(table))
    resumed = run.records_read > 0 or run.status is ImportStatus.INTERRUPTED
    job = Job(kind="import", status=JobStatus.RUNNING, study_id=study.id, payload={"import_id": run.id},
              progress_done=run.records_read, progress_total=run.records_total, attempts=1, worker=_owner(),
              started_at=now, heartbeat_at=now, created_by_id=actor.id if actor else None)
    session.add(job)
    session.flush()
    run.job_id = job.id
    run.status = ImportStatus.RUNNING
    run.owner = _owner()
    run.heartbeat_at = now
    _active_here.add(run.id)
    return ImportPlan(run, table, mapping, resumed=resumed)


@dataclass
class _Prepared:
    number: int
    key: str
    text: str
    spans: list[tuple[int, int, str | None]]
    summary: dict
    attributes: dict
    collected_on: date | None
    channel: str | None
    segment: str | None
    journey_stage: str | None


def _names_in(record: Record, mapping: Mapping) -> list[str]:
    names = []
    first_last = []
    for column in mapping.names:
        value = " ".join(record.fields.get(column, "").split())
        if not value or "@" in value:
            continue
        names.extend(v.strip() for v in re.split(r"[;,/|]| and ", value) if v.strip())
        first_last.append(value)
    if len(first_last) > 1:
        names.append(" ".join(first_last))
    return names


def _prepare(record: Record, mapping: Mapping, settings: IngestSettings, stats: dict) -> _Prepared | str:
    """De-identify one record in memory; a string return is the reason it is rejected."""
    texts = [(c, record.fields.get(c, "").strip()) for c in mapping.text]
    texts = [(c, t) for c, t in texts if t]
    if not texts:
        return "has no text in its text columns"
    if mapping.record_id and record.fields.get(mapping.record_id, "").strip():
        key_source = "id\x00" + record.fields[mapping.record_id].strip()
    else:
        key_source = "record\x00" + "\x00".join(record.fields.get(c, "") for c in sorted(record.fields))
    key = settings.key(key_source.encode())
    parts: list[str] = []
    seg = Segmented("")
    pos = 0
    for _column, value in texts:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        for piece in paragraphs(value, max_chars=settings.max_passage_chars, heading_chars=0):
            seg.spans.append((pos + piece.start, pos + piece.end, None))
        parts.append(value)
        pos += len(value) + 2
    seg.text = "\n\n".join(parts)
    result, spans = _deidentified_passages(seg, _names_in(record, mapping))
    attributes: dict = {}
    created = closed = None
    for role, column in mapping.meta.items():
        value = record.fields.get(column, "").strip()
        if not value:
            continue
        if role in ("created", "closed"):
            parsed = parse_datetime(value)
            if parsed is None:
                stats["unparsed_dates"] = stats.get("unparsed_dates", 0) + 1
                continue
            attributes[f"{role}_at"] = parsed.isoformat()
            if role == "created":
                created = parsed
            else:
                closed = parsed
        elif role == "csat":
            attributes["csat"] = _number(value)
        elif role in ("service", "category"):
            attributes[role] = _deid_value(value[:200])
    a11 = {d: _number(record.fields.get(c, "")) for d, c in mapping.a11.items() if record.fields.get(c, "").strip()}
    if a11:
        attributes["a11"] = a11
    if created and closed:
        attributes["hours_open"] = round((closed - created).total_seconds() / 3600, 1)

    def meta(role: str, limit: int) -> str | None:
        column = mapping.meta.get(role)
        return _short(record.fields.get(column) if column else None, limit)

    return _Prepared(
        record.number, key, result.text, spans, result.summary(), attributes,
        created.date() if created else None, meta("channel", 60), meta("segment", 120), meta("journey_stage", 120),
    )


def column_labels(columns: list[str]) -> dict[str, str]:
    """Each column's name as it may be stored and shown: a header of a known layout as it is,
    any other de-identified (a column can be named after a person, "Notes from Maria Alvarez"),
    and unique (a suffix when two collapse)."""
    labels: dict[str, str] = {}
    taken: set[str] = set()
    for number, column in enumerate(columns, 1):
        known = known_column(column)
        shown = (" ".join(column.split())[:120] if known else _short(column, 120)) or f"column {number}"
        if shown in taken:
            shown = f"{shown} (column {number})"
        taken.add(shown)
        labels[column] = shown
    return labels


def _map_columns(mapping: dict, names: dict[str, str]) -> dict:
    def one(column):
        return names.get(column, column) if isinstance(column, str) else column

    out = {}
    for key, value in mapping.items():
        if isinstance(value, list):
            out[key] = [one(c) for c in value]
        elif isinstance(value, dict):
            out[key] = {role: one(c) for role, c in value.items()}
        else:
            out[key] = one(value)
    return out


def stored_mapping(mapping: Mapping, columns: list[str]) -> dict:
    """The mapping as the database keeps it: column labels, never the file's own column names."""
    return _map_columns(mapping.as_dict(), column_labels(columns))


def restored_mapping(stored: dict, columns: list[str]) -> Mapping:
    """The mapping of a resumed import, on the file's columns again (the same file: its key matched)."""
    back = {shown: column for column, shown in column_labels(columns).items()}
    return Mapping(**_map_columns(stored, back))


@functools.lru_cache(maxsize=4096)
def _deid_value(value: str) -> str:
    """A metadata value (channel, service, category), de-identified. These repeat across an
    export's rows, so each distinct value is checked once (the cache lives in memory only)."""
    return deidentifier().deidentify(value).text


def _number(value: str):
    try:
        number = float(value)
    except ValueError:
        return value[:40]
    return int(number) if number.is_integer() else number


ProgressCallback = Callable[[ImportRun], None]


def run_import(db, settings: IngestSettings, plan: ImportPlan, actor_id: int | None = None,
               progress: ProgressCallback | None = None) -> ImportRun:
    """Process the plan's records from its cursor to the end, one committed chunk at a time."""
    run_id = plan.run.id
    table, mapping = plan.table, plan.mapping
    try:
        with db.read_session() as session:
            row = session.get(ImportRun, run_id)
            start, kind, study_id, stats = row.records_read, row.kind, row.study_id, dict(row.stats)
        records = table.records
        for chunk_start in range(start, len(records), settings.chunk_size):
            chunk = records[chunk_start : chunk_start + settings.chunk_size]
            prepared: list[_Prepared | tuple[int, str, str]] = []
            for record in chunk:  # the CPU work, outside any transaction
                if isinstance(record, BadRecord):
                    prepared.append((record.number, record.where, record.reason))
                    continue
                outcome = _prepare(record, mapping, settings, stats)
                prepared.append((record.number, record.where, outcome) if isinstance(outcome, str) else outcome)
            with db.writing() as session:
                run = _store_chunk(session, run_id, study_id, kind, prepared, chunk, stats, actor_id)
                session.flush()
                session.expunge(run)
            if progress is not None:
                progress(run)
        with db.writing() as session:
            run = session.get(ImportRun, run_id)
            run.status = ImportStatus.DONE
            run.finished_at = datetime.now(UTC)
            run.owner = None
            _finish_job(session, run, JobStatus.DONE, None)
            audit.record(session, None if actor_id is None else session.get(User, actor_id), "import.finish",
                         study_id=run.study_id, object_type="import", object_id=run.id, read=run.records_read,
                         stored=run.records_stored, rejected=run.records_rejected)
            session.flush()
            session.expunge(run)
            return run
    except BaseException as exc:
        with db.writing() as session:
            run = session.get(ImportRun, run_id)
            if run is not None and run.status is ImportStatus.RUNNING:
                _interrupt(session, run, f"{type(exc).__name__}; {run.records_read} of {run.records_total} "
                                         "records done.")
        raise
    finally:
        _active_here.discard(run_id)


def _interrupt(session: Session, run: ImportRun, what: str) -> None:
    """Leave the import resumable and fail its job, saying how to resume."""
    run.status = ImportStatus.INTERRUPTED
    run.owner = None
    _finish_job(session, run, JobStatus.FAILED, f"{what} Import the same file again to resume.")


def _finish_job(session: Session, run: ImportRun, status: JobStatus, error: str | None) -> None:
    if run.job_id is None:
        return
    session.execute(update(Job).where(Job.id == run.job_id).values(
        status=status, error=error, finished_at=datetime.now(UTC), progress_done=run.records_read))


def _store_chunk(session: Session, run_id: int, study_id: int, kind: SourceKind, prepared: list,
                 chunk: list, stats: dict, actor_id: int | None) -> ImportRun:
    run = session.get(ImportRun, run_id)
    keys = [p.key for p in prepared if isinstance(p, _Prepared)]
    known = set(session.scalars(select(Source.content_sha256).where(
        Source.study_id == study_id, Source.content_sha256.in_(keys)))) if keys else set()
    rejections, sources, spans = [], [], []
    for item, record in zip(prepared, chunk, strict=True):
        if not isinstance(item, _Prepared):
            number, where, reason = item
            rejections.append(ImportRejection(import_id=run_id, record_number=number, location=where[:40],
                                              reason=f"{where.capitalize()} {reason}"))
            continue
        if item.key in known:
            rejections.append(ImportRejection(
                import_id=run_id, record_number=item.number, location=record.where[:40],
                reason=f"{record.where.capitalize()} is a duplicate of a record already stored in this study."))
            continue
        known.add(item.key)
        sources.append(Source(
            study_id=study_id, kind=kind, format=run.format, title=f"{kind.label} {run_id}-{item.number}",
            collected_on=item.collected_on, channel=item.channel, segment=item.segment,
            journey_stage=item.journey_stage, content_sha256=item.key, text=item.text,
            redaction_summary=item.summary, attributes=item.attributes, import_id=run_id,
            record_number=item.number, created_by_id=actor_id))
        spans.append(item.spans)
    session.add_all(rejections)
    session.add_all(sources)
    session.flush()
    _add_passages(session, [p for source, source_spans in zip(sources, spans, strict=True)
                            for p in _passage_rows(source, source_spans)], study_id)
    run.records_read += len(chunk)
    run.records_stored += len(sources)
    run.records_rejected += len(rejections)
    run.stats = dict(stats)
    run.heartbeat_at = datetime.now(UTC)
    if run.job_id is not None:
        session.execute(update(Job).where(Job.id == run.job_id).values(
            progress_done=run.records_read, heartbeat_at=run.heartbeat_at))
    return run


def mark_interrupted(session: Session) -> int:
    """Imports left RUNNING by a process that is gone become INTERRUPTED (run at start-up)."""
    now = datetime.now(UTC)
    count = 0
    for run in session.scalars(select(ImportRun).where(ImportRun.status == ImportStatus.RUNNING)):
        if not _owner_alive(run, now):
            _interrupt(session, run, f"Interrupted after {run.records_read} of {run.records_total} records.")
            count += 1
    return count


def list_imports(session: Session, study_id: int) -> list[ImportRun]:
    return list(session.scalars(select(ImportRun).where(ImportRun.study_id == study_id).order_by(ImportRun.id.desc())))


def rejections_csv(session: Session, run: ImportRun) -> str:
    """The rejected records and why, as CSV (record number, line or row, reason)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["record", "where", "reason"])
    for rejection in session.scalars(select(ImportRejection).where(ImportRejection.import_id == run.id)
                                     .order_by(ImportRejection.record_number)):
        # Reasons are our own sentences; still guard a spreadsheet against formula cells.
        writer.writerow([rejection.record_number, rejection.location, safe_cell(rejection.reason)])
    return out.getvalue()


def label_spans(text: str):
    """Identifiers in a short label with no context (a file name, a tag name): a lone common
    word ("call", "notes", "child") is not taken for a name."""
    from nlp.deid.lexicon import load

    lex = load()
    return [sp for sp in deidentifier().find(text)
            if not (" " not in text[sp.start:sp.end] and lex.zipf_of(text[sp.start:sp.end].lower()) >= 4.0)]


def display_name(filename: str | None) -> str:
    """A file name fit to show back: the base name without control characters, with any
    identifier in it (a respondent's name is common: "maria_alvarez_interview.docx") redacted."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable())[:120].strip() or "upload"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    # First as written (an email or phone keeps its dots and hyphens), then with separators as
    # spaces (names: "maria_alvarez").
    shown = stem
    for spaced in (False, True):
        text = re.sub(r"[_\-.]+", " ", shown) if spaced else shown
        spans = [sp for sp in label_spans(text) if spaced or sp.kind.value != "PERSON"]
        if spans:
            parts, pos = [], 0
            for sp in spans:
                parts.append(text[pos:sp.start] + f"[{sp.kind.value}]")
                pos = sp.end
            shown = "".join(parts) + text[pos:]
    return f"{shown}.{ext.lower()}" if ext else shown


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
