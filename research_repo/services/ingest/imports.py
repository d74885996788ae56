"""Imports of exports (tickets, survey comments): chunks of records, each committed with the
import's cursor, so a crash loses at most the chunk in flight and running the same file
again resumes after the last committed chunk (re-reading it from the file: nothing raw was
kept to resume from). Records read = stored + rejected, each rejection with its reason."""
from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session


from ...ingest.errors import UnreadableFile
from ...ingest.mapping import Mapping, build_mapping
from ...ingest.records import BadRecord, Table, read_table
from ...models import (
    Highlight, ImportRejection, ImportRun, ImportStatus, Job, JobStatus, Passage, Source, SourceKind, Study, User,
    insight_passage,
)
from .. import audit, outbox
from ..cells import safe_cell
from ..errors import Conflict
from .passages import add_passages, passage_rows, study_terms
from .records import Prepared, prepare, restored_mapping, shared_values, stored_mapping
from .uploads import RECORD_KINDS, IngestSettings, Upload, kind_for


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
    table: Table | None = None,
) -> ImportPlan:
    """Check the file, then create (or take over, to resume) its import. File-level problems
    raise ``UnreadableFile`` before anything is written. ``table``: the file as ``read_export``
    parsed it before the transaction began."""
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
    if run is not None and run.status is ImportStatus.RUNNING:
        # Its process died (kill -9): its job row says so before a new one takes over.
        _interrupt(session, run, f"Interrupted after {run.records_read} of {run.records_total} records.")
    if table is None:
        table = read_export(upload, encoding, sheet)
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


def read_export(upload: Upload, encoding: str | None = None, sheet: str | None = None) -> Table:
    """Parse an export's records (the CPU work of an import's start); no database."""
    return read_table(upload.name, upload.data, encoding=encoding, sheet=sheet)


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
            terms = study_terms(session, study_id, settings)
        records = table.records
        shared = shared_values(records, mapping)
        work = (_prepared_in_child if settings.prepare_in_child and os.name == "posix" else _prepared_chunks)
        for chunk_start, prepared, stats_now in work(records, start, mapping, settings, stats, shared, terms,
                                                     kind.value):
            chunk = records[chunk_start : chunk_start + settings.chunk_size]
            stats.clear()
            stats.update(stats_now)
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


def _prepared_chunks(records: list, start: int, mapping: Mapping, settings: IngestSettings, stats: dict,
                     shared: dict, terms, scope: str) -> Iterator[tuple[int, list, dict]]:
    """Each chunk's records de-identified (the CPU work, outside any transaction): its first
    record's index, per record a ``Prepared`` or (number, where, reason), and the stats so far."""
    for chunk_start in range(start, len(records), settings.chunk_size):
        prepared: list[Prepared | tuple[int, str, str]] = []
        for record in records[chunk_start : chunk_start + settings.chunk_size]:
            if isinstance(record, BadRecord):
                prepared.append((record.number, record.where, record.reason))
                continue
            outcome = prepare(record, mapping, settings, stats, shared, terms, scope)
            prepared.append((record.number, record.where, outcome) if isinstance(outcome, str) else outcome)
        yield chunk_start, prepared, dict(stats)


def _prepared_in_child(records: list, start: int, mapping: Mapping, settings: IngestSettings, stats: dict,
                       shared: dict, terms, scope: str) -> Iterator[tuple[int, list, dict]]:
    """``_prepared_chunks`` run in a child process (``proc.forked``), so de-identifying a large export
    uses the other core instead of competing for this process's interpreter with the people
    searching and uploading. The child gets the parsed records over a pipe (memory only) and
    sends back de-identified chunks over a pipe, one at a time: it waits while the pipe is
    full, so it is never far ahead of what is stored. It dies with this process."""
    from ...proc import forked

    with forked(_prepare_in_child, records, start, mapping, settings, stats, shared, terms, scope) as (child, receiver):
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                raise RuntimeError(f"the process de-identifying the records ended (exit code {child.exitcode})") from None
            if message is None:
                return
            if message[0] == "failed":
                raise RuntimeError(f"de-identifying the records failed: {message[1]}")
            yield message[1:]


def _prepare_in_child(conn, *args) -> None:
    # Bulk work: people searching and uploading come first when the cores are busy.
    os.nice(10)
    try:
        for chunk in _prepared_chunks(*args):
            conn.send(("chunk", *chunk))
        conn.send(None)
    except Exception as exc:  # noqa: BLE001 - the type only: a message can quote a record
        conn.send(("failed", type(exc).__name__))


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
    keys = [p.key for p in prepared if isinstance(p, Prepared)]
    stored = {key: (sid, version) for sid, key, version in session.execute(
        select(Source.id, Source.content_sha256, Source.record_version).where(
            Source.study_id == study_id, Source.content_sha256.in_(keys)))} if keys else {}
    known: set[str] = set()
    rejections, sources, spans = [], [], []
    replaced = 0
    for item, record in zip(prepared, chunk, strict=True):
        if not isinstance(item, Prepared):
            number, where, reason = item
            rejections.append(ImportRejection(import_id=run_id, record_number=number, location=where[:40],
                                              reason=f"{where.capitalize()} {reason}"))
            continue
        if item.key in stored and item.key not in known and item.version is not None \
                and stored[item.key][1] != item.version:
            # The same record id with other content: the record was edited since it was imported.
            known.add(item.key)
            refusal = _replace(session, stored[item.key][0], item, run_id, actor_id)
            if refusal is None:
                replaced += 1
            else:
                rejections.append(ImportRejection(import_id=run_id, record_number=item.number,
                                                  location=record.where[:40],
                                                  reason=f"{record.where.capitalize()} {refusal}"))
            continue
        if item.key in known or item.key in stored:
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
            record_number=item.number, record_version=item.version, created_by_id=actor_id))
        spans.append(item.spans)
    session.add_all(rejections)
    session.add_all(sources)
    session.flush()
    add_passages(session, [p for source, source_spans in zip(sources, spans, strict=True)
                            for p in passage_rows(source, source_spans)], study_id, bulk=True)
    run.records_read += len(chunk)
    run.records_stored += len(sources) + replaced
    run.records_rejected += len(rejections)
    stats["replaced"] = stats.get("replaced", 0) + replaced
    run.stats = dict(stats)
    run.heartbeat_at = datetime.now(UTC)
    if run.job_id is not None:
        session.execute(update(Job).where(Job.id == run.job_id).values(
            progress_done=run.records_read, heartbeat_at=run.heartbeat_at))
    return run


def _replace(session: Session, source_id: int, item: Prepared, run_id: int, actor_id: int | None) -> str | None:
    """Put an edited record's new version in place of the stored one (same source, new
    passages, audited). Refused, with the reason, when the stored version's passages are
    coded or quoted as an insight's evidence: that work would be lost with them."""
    passage_ids = list(session.scalars(select(Passage.id).where(Passage.source_id == source_id)))
    coded = session.scalar(select(func.count()).select_from(Highlight).where(Highlight.passage_id.in_(passage_ids)))
    quoted = session.scalar(select(func.count()).select_from(insight_passage).where(
        insight_passage.c.passage_id.in_(passage_ids)))
    if coded or quoted:
        return ("was edited since it was imported, but its earlier version is coded or quoted as evidence, so it "
                "was kept and the edit not stored. Delete the earlier record to take the edit.")
    source = session.get(Source, source_id)
    # The old passages leave the index as upserts of passages that are gone (no full rebuild:
    # their text was de-identified like the new one's).
    outbox.changed(session, passage_ids, bulk=True)
    session.execute(delete(Passage).where(Passage.source_id == source_id))
    source.text, source.redaction_summary, source.attributes = item.text, item.summary, item.attributes
    source.collected_on, source.channel, source.segment = item.collected_on, item.channel, item.segment
    source.journey_stage, source.record_version = item.journey_stage, item.version
    source.import_id, source.record_number = run_id, item.number
    session.flush()
    session.expire(source, ["passages"])
    rows = add_passages(session, passage_rows(source, item.spans), source.study_id, bulk=True)
    audit.record(session, None if actor_id is None else session.get(User, actor_id), "source.replace",
                 study_id=source.study_id, object_type="source", object_id=source.id, import_id=run_id,
                 passages=len(rows), passages_before=len(passage_ids))
    return None


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
