"""Ticket and survey exports (.csv, .tsv, .json, .jsonl, .xlsx) to numbered records.

Every record the file holds comes out exactly once, either as a ``Record`` or as a
``BadRecord`` with the reason, so an import can prove read = stored + rejected. For CSV we do
not trust the parser's row count alone: every physical line is accounted for, and a row whose
field count is wrong (the mark of a stray quote that swallowed the lines after it) is taken
apart line by line so the swallowed records are counted and reported, not lost.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time

from . import bounded
from .decode import decode
from .documents import check_zip, extension
from .errors import UnreadableFile

RECORD_FORMATS = ("csv", "tsv", "json", "jsonl", "xlsx")


@dataclass
class Record:
    number: int  # 1-based position among the file's records; stable across runs
    where: str  # "line 12" or "row 12", for messages
    fields: dict[str, str]


@dataclass
class BadRecord:
    number: int
    where: str
    reason: str


@dataclass
class Table:
    format: str
    columns: list[str]
    records: list[Record | BadRecord] = field(default_factory=list)
    encoding: str | None = None

    def __len__(self) -> int:
        return len(self.records)

    # Sent back from the reader's child process (``bounded``): records as rows of values in
    # column order, not one dict each, which pickles several times faster.
    def __getstate__(self) -> dict:
        columns = self.columns
        rows = [(r.number, r.where, tuple(r.fields.get(c) for c in columns)) if isinstance(r, Record)
                else (r.number, r.where, r.reason) for r in self.records]
        return {"format": self.format, "columns": columns, "rows": rows, "encoding": self.encoding}

    def __setstate__(self, state: dict) -> None:
        self.format, self.columns, self.encoding = state["format"], state["columns"], state["encoding"]
        columns = self.columns
        self.records = [
            Record(number, where, {c: v for c, v in zip(columns, values, strict=True) if v is not None})
            if isinstance(values, tuple) else BadRecord(number, where, values)
            for number, where, values in state["rows"]]


def read_table(name: str, data: bytes, *, encoding: str | None = None, sheet: str | None = None) -> Table:
    """An export's header and records, read within the configured time and memory limits
    (``bounded``); any failure of the file as a whole is ``UnreadableFile``."""
    return bounded.run(name, f"a {extension(name) or 'data'} file", _read_table, name, data, encoding=encoding,
                       sheet=sheet)


def _read_table(name: str, data: bytes, *, encoding: str | None = None, sheet: str | None = None) -> Table:
    fmt = extension(name)
    if fmt not in RECORD_FORMATS:
        raise UnreadableFile(name, f"is not an export type we read ({', '.join(RECORD_FORMATS)}).", status=415)
    if not data.strip():
        raise UnreadableFile(name, "is empty.")
    if fmt == "xlsx":
        table = _xlsx(name, data, sheet)
    else:
        text, used = decode(data, name, encoding)
        if fmt == "json":
            table = _json(name, text)
        elif fmt == "jsonl":
            table = _jsonl(name, text)
        else:
            table = _csv(name, text, "\t" if fmt == "tsv" else None)
        table.encoding = used
    if not table.columns:
        raise UnreadableFile(name, "has no header row naming its columns.")
    if not table.records:
        raise UnreadableFile(name, "has a header but no records.")
    return table


# ---- CSV


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def physical_lines(text: str) -> list[str]:
    """Lines ended by CR, LF or CRLF only (with their ends): a form feed or U+2028 inside a
    record is text, not a line break as ``str.splitlines`` would have it."""
    return _LINE.findall(text)


def _csv(name: str, text: str, delimiter: str | None) -> Table:
    lines = physical_lines(text.removeprefix("\ufeff"))
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise UnreadableFile(name, "is empty.")
    delimiter = delimiter or _delimiter(lines[first])
    try:
        header = next(csv.reader([lines[first]], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise UnreadableFile(name, f"line {first + 1}: the header row is not valid CSV ({exc}).") from None
    columns = _columns(name, header)
    width = len(columns)
    table = Table("csv", columns)
    consumed = first + 1  # physical lines read so far
    skip_to = 0  # lines before this index belong to a broken field and are not parsed

    def feed():
        nonlocal consumed
        while consumed < len(lines):
            line = lines[consumed]
            consumed += 1
            if consumed - 1 < skip_to:
                continue
            yield line

    # One streaming reader (multi-line quoted fields are legal); its line count tells us which
    # physical lines every record took, so no line can go missing without us seeing it.
    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    number = 0
    while True:
        before = consumed
        try:
            row = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:
            row, error = [], f"is not valid CSV ({exc})"
        start, end = max(before, skip_to), consumed  # 0-based [start, end) physical lines
        if not row and error is None:
            continue  # a blank line
        number += 1
        where = f"line {start + 1}" if end - start == 1 else f"lines {start + 1}-{end}"
        if error is None and len(row) == width:
            table.records.append(Record(number, where, dict(zip(columns, row, strict=True))))
            continue
        problem = error or f"has {len(row)} fields; the header has {width}"
        inner = [j for j in range(start + 1, end) if lines[j].strip()]
        if not inner:
            table.records.append(BadRecord(number, where, f"{problem}. Check the delimiters and quotes on this row."))
            continue
        # A wrong record over several lines: a quote opened where it should not be swallowed
        # the lines after it. Each of those lines is counted and reported, never dropped.
        over = f"line {end}" if end == start + 2 else f"lines {start + 2}-{end}"
        table.records.append(BadRecord(number, f"line {start + 1}", (
            f"{problem}: a quote on line {start + 1} is not closed where it should be, and it ran over "
            f"{over}. Fix the quote and import the file again.")))
        for j in inner:
            number += 1
            table.records.append(BadRecord(number, f"line {j + 1}", (
                f"was swallowed by the unclosed quote on line {start + 1}; fix that line and import again.")))
        if error is not None:
            # The field the bad quote broke may go on after the line where parsing stopped: up to
            # the line that closes it (an odd number of quotes, one before a delimiter or the line's
            # end). Those lines are the rest of that field, not records of their own.
            close = _closing_line(lines, end, delimiter)
            for j in range(end, close + 1 if close is not None else end):
                if lines[j].strip():
                    number += 1
                    table.records.append(BadRecord(number, f"line {j + 1}", (
                        f"is the rest of the field whose quote broke on line {start + 1}; fix that field and "
                        "import again.")))
            if close is not None:
                skip_to = close + 1
    return table


def _closing_line(lines: list[str], start: int, delimiter: str, within: int = 50) -> int | None:
    """The first line from ``start`` that closes a quoted field left open, within ``within`` lines."""
    closes = re.compile(r'"[ \t]*(?:' + re.escape(delimiter) + r"|$)")
    for j in range(start, min(len(lines), start + within)):
        line = lines[j].rstrip("\r\n")
        if line.count('"') % 2 == 1 and closes.search(line):
            return j
    return None


def _columns(name: str, header: list) -> list[str]:
    columns = [" ".join(str(h if h is not None else "").split()) for h in header]
    while columns and not columns[-1]:
        columns.pop()
    seen = set()
    for index, column in enumerate(columns, 1):
        if not column:
            raise UnreadableFile(name, f"column {index} has no name in the header row.")
        if column.casefold() in seen:
            raise UnreadableFile(name, f"the header names column {column!r} twice; rename one of them.")
        seen.add(column.casefold())
    return columns


# ---- JSON and JSON Lines


def _flatten(value: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(_flatten(item, name + "."))
        elif isinstance(item, list):
            out[name] = "; ".join(cell_text(x) for x in item if not isinstance(x, dict | list))
        else:
            out[name] = cell_text(item)
    return out


def _json(name: str, text: str) -> Table:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(name, f"line {exc.lineno}: not valid JSON ({exc.msg}).") from None
    except RecursionError:
        raise UnreadableFile(name, "is nested too deeply (arrays or objects inside one another about a "
                             "thousand levels down); records are objects of fields.") from None
    except ValueError:  # Python refuses integers of more than 4,300 digits
        raise UnreadableFile(name, "has a number of more than 4,300 digits, which cannot be read.") from None
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise UnreadableFile(name, "must be a list of records, or an object holding exactly one such list.")
        value = lists[0]
    if not isinstance(value, list):
        raise UnreadableFile(name, "must be a list of records.")
    return _from_items(name, ((f"item {n}", item) for n, item in enumerate(value, 1)), "json")


def _jsonl(name: str, text: str) -> Table:
    def items():
        for n, line in enumerate(physical_lines(text.removeprefix("\ufeff")), 1):
            if not line.strip():
                continue
            try:
                yield f"line {n}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"line {n}", ValueError(f"is not valid JSON ({exc.msg} at column {exc.colno})")
            except RecursionError:
                yield f"line {n}", ValueError("is nested too deeply to read")
            except ValueError:
                yield f"line {n}", ValueError("has a number too long to read (over 4,300 digits)")

    return _from_items(name, items(), "jsonl")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _from_items(name: str, items, fmt: str) -> Table:
    columns: dict[str, None] = {}
    records: list[Record | BadRecord] = []
    for number, (where, item) in enumerate(items, 1):
        if isinstance(item, ValueError):
            records.append(BadRecord(number, where, str(item)))
        elif not isinstance(item, dict):
            records.append(BadRecord(number, where, f"is a {type(item).__name__}, not an object with fields"))
        else:
            try:
                fields = _flatten(item)
            except RecursionError:
                records.append(BadRecord(number, where, "is nested too deeply to read"))
                continue
            if any(_SURROGATE.search(k) or _SURROGATE.search(v) for k, v in fields.items()):
                # A "\ud800" escape with no partner is no character at all: the database cannot
                # store it, and one such record must not fail its whole chunk.
                records.append(BadRecord(number, where, (
                    "has an invalid character (a lone \\ud800-\\udfff escape, half of a pair); fix or remove it")))
                continue
            columns.update(dict.fromkeys(fields))
            records.append(Record(number, where, fields))
    return Table(fmt, _columns(name, list(columns)) if columns else [], records)


# ---- XLSX


def _xlsx(name: str, data: bytes, sheet: str | None) -> Table:
    check_zip(name, data)
    import openpyxl  # uses defusedxml when installed

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a file problem
        raise UnreadableFile(name, f"could not be read as an Excel workbook ({type(exc).__name__}).") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise UnreadableFile(name, f"has no sheet {sheet!r}; its sheets are {', '.join(book.sheetnames)}.")
        ws = book[sheet] if sheet else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header, header_row = None, 0
        for number, values in enumerate(rows, 1):
            if any(v not in (None, "") for v in values):
                header, header_row = list(values), number
                break
        if header is None:
            raise UnreadableFile(name, "has an empty first sheet.")
        columns = _columns(name, header)
        width = len(columns)
        table = Table("xlsx", columns)
        number = 0
        for row_number, values in enumerate(rows, header_row + 1):
            cells = [cell_text(v) for v in values]
            if not any(cells):
                continue
            number += 1
            extra = [c for c in cells[width:] if c]
            if extra:
                table.records.append(BadRecord(number, f"row {row_number}", (
                    f"has values beyond the last named column ({len(columns)} columns in the header)")))
                continue
            cells += [""] * (width - len(cells))
            table.records.append(Record(number, f"row {row_number}", dict(zip(columns, cells[:width], strict=True))))
        return table
    finally:
        book.close()


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


# ---- Dates in exports


_DATE_FORMATS = (
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y",
    "%m/%d/%y %H:%M", "%m/%d/%y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y", "%b %d, %Y",
    "%B %d, %Y", "%Y-%m-%d %H:%M:%S %Z",
)


def parse_datetime(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    if re.fullmatch(r"\d{5}(?:\.\d+)?", value):  # an Excel serial date that came through as text
        from datetime import timedelta

        return datetime(1899, 12, 30) + timedelta(days=float(value))
    return None
