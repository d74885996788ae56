"""One record of an export made ready to store, in memory: its text de-identified (with the
names its requester columns hold), its metadata typed, its key for de-duplication; and the
column mapping as the database may keep it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date


from nlp.segment import paragraphs

from ...ingest.mapping import Mapping, known_column
from ...ingest.records import Record, parse_datetime
from ..inputs import category_value, short_value
from .passages import Segmented, StudyTerms, deidentified_passages
from .uploads import IngestSettings


@dataclass
class Prepared:
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
    # With a record id: a keyed hash of everything the record says, so a re-import can tell
    # an edited record (same id, another version) from the same one again.
    version: str | None = None


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


SHARED_AT = 3  # records that must share a metadata value for it to count as a category
CATEGORY_ROLES = ("channel", "segment", "journey_stage", "service", "category")


def shared_values(records, mapping: Mapping) -> dict[str, frozenset[str]]:
    """For each metadata column, the values at least ``SHARED_AT`` records share: categories
    ("voice", "good", "new retiree"), not anyone's name. Counted over the whole file, which is
    in memory already, so a resumed import decides alike."""
    from collections import Counter

    columns = {c for role, c in mapping.meta.items() if role in CATEGORY_ROLES}
    counts: dict[str, Counter] = {c: Counter() for c in columns}
    for record in records:
        fields = getattr(record, "fields", None)
        if fields is None:
            continue
        for column in columns:
            value = " ".join(fields.get(column, "").split())
            if value:
                counts[column][value] += 1
    return {c: frozenset(v for v, n in counted.items() if n >= SHARED_AT) for c, counted in counts.items()}


def prepare(record: Record, mapping: Mapping, settings: IngestSettings, stats: dict,
            shared: dict[str, frozenset[str]] | None = None, terms: StudyTerms = StudyTerms(),
            scope: str = "") -> Prepared | str:
    """De-identify one record in memory; a string return is the reason it is rejected.
    ``scope`` (the kind of export) and the id column's name are part of a record id's key:
    ticket 12 of one export is not survey response 12 of another."""
    texts = [(c, record.fields.get(c, "").strip()) for c in mapping.text]
    texts = [(c, t) for c, t in texts if t]
    if not texts:
        return "has no text in its text columns"
    whole = "record\x00" + "\x00".join(record.fields.get(c, "") for c in sorted(record.fields))
    version = None
    if mapping.record_id and record.fields.get(mapping.record_id, "").strip():
        key_source = "\x00".join(("id", scope, mapping.record_id, record.fields[mapping.record_id].strip()))
        version = settings.key(whole.encode())
    else:
        key_source = whole
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
    result, spans = deidentified_passages(seg, _names_in(record, mapping), terms)
    attributes: dict = {}

    def meta_value(role: str, value: str | None, limit: int) -> str | None:
        """A category many records share keeps its words (only shaped identifiers are
        redacted); a value few records have is de-identified like free text."""
        column = mapping.meta.get(role)
        if not column or value is None:
            return None
        flat = " ".join(str(value).split())
        if shared is not None and flat in shared.get(column, ()):
            return category_value(flat, limit)
        return short_value(flat, limit)

    def meta(role: str, limit: int) -> str | None:
        column = mapping.meta.get(role)
        return meta_value(role, record.fields.get(column), limit) if column else None

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
            attributes[role] = meta_value(role, value, 200)
    a11 = {d: _number(record.fields.get(c, "")) for d, c in mapping.a11.items() if record.fields.get(c, "").strip()}
    if a11:
        attributes["a11"] = a11
    if created and closed:
        attributes["hours_open"] = round((closed - created).total_seconds() / 3600, 1)


    return Prepared(
        record.number, key, result.text, spans, result.summary(), attributes,
        created.date() if created else None, meta("channel", 60), meta("segment", 120), meta("journey_stage", 120),
        version,
    )


def column_labels(columns: list[str]) -> dict[str, str]:
    """Each column's name as it may be stored and shown: a header of a known layout as it is,
    any other de-identified (a column can be named after a person, "Notes from Maria Alvarez"),
    and unique (a suffix when two collapse)."""
    labels: dict[str, str] = {}
    taken: set[str] = set()
    for number, column in enumerate(columns, 1):
        known = known_column(column)
        shown = (" ".join(column.split())[:120] if known else short_value(column, 120)) or f"column {number}"
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


def _number(value: str):
    try:
        number = float(value)
    except ValueError:
        return value[:40]
    return int(number) if number.is_integer() else number
