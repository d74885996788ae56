"""Documents (notes and transcripts) to canonical text.

``read_document(name, data)`` returns the text of a .txt, .md, .docx, .pdf, .vtt or .srt file,
and for caption files the speaker turns the cues already mark. Everything happens in memory;
nothing is written to disk. Every refusal is an ``UnreadableFile`` that names the file and
says what to fix.
"""
from __future__ import annotations

import html
import io
import re
import zipfile
from dataclasses import dataclass

from nlp.segment import Piece

from . import bounded
from .decode import decode
from .errors import UnreadableFile

DOCUMENT_FORMATS = ("txt", "md", "docx", "pdf", "vtt", "srt")
TRANSCRIPT_FORMATS = ("vtt", "srt")

# Zip containers (.docx, .xlsx): refuse before parsing if the declared sizes are out of bounds.
ZIP_MAX_MEMBERS = 2_000
ZIP_MAX_UNCOMPRESSED = 200 * 1024 * 1024
ZIP_MAX_RATIO = 150  # a real document.xml compresses 5-20x; bombs reach 1000x and more
PDF_MAX_PAGES = 2_000


@dataclass
class Document:
    text: str
    format: str
    encoding: str | None = None
    # Speaker turns known from the file's structure (caption cues); None means "segment the text".
    turns: list[Piece] | None = None


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def read_document(name: str, data: bytes, *, encoding: str | None = None) -> Document:
    """The text (and for captions the turns) of one uploaded document, read within the
    configured time and memory limits (``bounded``); any failure is ``UnreadableFile``."""
    return bounded.run(name, f"a {extension(name) or 'text'} file", _read_document, name, data, encoding=encoding)


def _read_document(name: str, data: bytes, *, encoding: str | None = None) -> Document:
    fmt = extension(name)
    if fmt == "markdown":
        fmt = "md"
    if fmt not in DOCUMENT_FORMATS:
        raise UnreadableFile(name, f"is not a document type we read ({', '.join(DOCUMENT_FORMATS)}).", status=415)
    if not data.strip():
        raise UnreadableFile(name, "is empty.")
    if fmt == "docx":
        doc = Document(_docx_text(name, data), fmt)
    elif fmt == "pdf":
        doc = Document(_pdf_text(name, data), fmt)
    else:
        text, used = decode(data, name, encoding)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if fmt == "vtt":
            doc = _cues_document(name, parse_vtt(name, text), fmt, used)
        elif fmt == "srt":
            doc = _cues_document(name, parse_srt(name, text), fmt, used)
        else:
            doc = Document(text, fmt, used)
    if not doc.text.strip():
        raise UnreadableFile(name, "has no text in it.")
    return doc


def check_zip(name: str, data: bytes) -> zipfile.ZipFile:
    """Open a zip container after checking its declared sizes, so a bomb is refused unread."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFile(name, "is not a valid Office file (the zip container is damaged).") from None
    members = archive.infolist()
    if len(members) > ZIP_MAX_MEMBERS:
        raise UnreadableFile(name, f"has {len(members):,} parts inside; at most {ZIP_MAX_MEMBERS:,} are allowed.")
    total = sum(m.file_size for m in members)
    if total > ZIP_MAX_UNCOMPRESSED:
        raise UnreadableFile(
            name, f"would expand to {total / 2**20:,.0f} MB; at most {ZIP_MAX_UNCOMPRESSED // 2**20} MB is allowed.",
            status=413,
        )
    for m in members:
        if m.file_size > 1_000_000 and m.file_size > ZIP_MAX_RATIO * max(m.compress_size, 1):
            raise UnreadableFile(
                name, f"has a part that expands {m.file_size // max(m.compress_size, 1):,} times "
                "(a zip bomb?); it was not opened.", status=413,
            )
    return archive


def _docx_text(name: str, data: bytes) -> str:
    archive = check_zip(name, data)
    if "word/document.xml" not in archive.namelist():
        raise UnreadableFile(name, "is not a Word document (no word/document.xml inside).")
    import docx  # python-docx; its lxml parser does not resolve entities
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = []
                    for cell in row.cells:
                        value = " ".join(cell.text.split())
                        if value and (not cells or cells[-1] != value):  # merged cells repeat
                            cells.append(value)
                    if cells:
                        blocks.append(" | ".join(cells))
            else:
                blocks.append(item.text)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a file problem, reported by type
        raise UnreadableFile(name, f"could not be read as a Word document ({type(exc).__name__}).") from None
    # Word paragraphs are the author's paragraphs: keep them apart with blank lines.
    return "\n\n".join(b.strip() for b in blocks if b.strip())


def _pdf_text(name: str, data: bytes) -> str:
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableFile(name, "is password-protected; remove the password and upload it again.")
        if len(reader.pages) > PDF_MAX_PAGES:
            raise UnreadableFile(name, f"has {len(reader.pages):,} pages; at most {PDF_MAX_PAGES:,} are allowed.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableFile:
        raise
    except (PdfReadError, Exception) as exc:  # noqa: BLE001 - pypdf raises many types on bad input
        raise UnreadableFile(name, f"could not be read as a PDF ({type(exc).__name__}).") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise UnreadableFile(name, "has no text layer (a scan?). Run OCR on it first, then upload it again.")
    return text


# ---- Caption files: a strict reader. The libraries we tried (webvtt-py, srt) silently drop or
# merge a malformed cue; a transcript must not lose a turn, so a bad block is an error here.

_VTT_TIME = r"(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}"
_SRT_TIME = r"\d{1,2}:[0-5]\d:[0-5]\d[,.]\d{1,3}"
VTT_TIMING = re.compile(rf"^({_VTT_TIME})[ \t]+-->[ \t]+({_VTT_TIME})(?:[ \t].*)?$")
SRT_TIMING = re.compile(rf"^({_SRT_TIME})[ \t]*-->[ \t]*({_SRT_TIME})(?:[ \t].*)?$")
VOICE = re.compile(r"<v(?:\.[\w.-]+)?[ \t]+([^>]+)>")
TAG = re.compile(r"</?[^>]*>")
LABEL = re.compile(r"^[ \t]*(?:-[ \t]*)?([^\W\d_][\w'’.-]*(?:[ \t][\w'’.-]+){0,3}?)[ \t]*:[ \t]+(?=\S)")


@dataclass
class Cue:
    start: float
    end: float
    text: str
    speaker: str | None
    line: int


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    value = 0.0
    for part in parts:
        value = value * 60 + float(part)
    return value


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks with the 1-based line number each starts on."""
    blocks, current, start = [], [], 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            if not current:
                start = number
            current.append(line.rstrip())
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _cue(name: str, line: int, start: str, end: str, payload: list[str]) -> Cue:
    begin, finish = _seconds(start), _seconds(end)
    if finish < begin:
        raise UnreadableFile(name, f"line {line}: the cue ends ({end}) before it starts ({start}).")
    raw = "\n".join(payload)
    voice = VOICE.search(raw)
    speaker = " ".join(voice.group(1).split()) if voice else None
    body = html.unescape(TAG.sub("", raw)).strip()
    if speaker is None and (m := LABEL.match(body)):
        speaker = " ".join(m.group(1).split())
        body = body[m.end():]
    return Cue(begin, finish, " ".join(body.split()), speaker, line)


def parse_vtt(name: str, text: str) -> list[Cue]:
    blocks = _blocks(text.removeprefix("\ufeff"))
    if not blocks or not re.match(r"^WEBVTT(?:[ \t].*)?$", blocks[0][1][0]):
        raise UnreadableFile(name, "line 1: a WebVTT file must start with WEBVTT.")
    cues = []
    for line, lines in blocks:
        if line == blocks[0][0] and lines[0].startswith("WEBVTT"):
            lines = lines[1:]  # header block; its other lines are metadata
            if not any("-->" in x for x in lines):
                continue
        if re.match(r"^(?:NOTE|STYLE|REGION)(?:[ \t]|$)", lines[0]):
            continue
        index = 0 if VTT_TIMING.match(lines[0]) else 1
        if index >= len(lines) or not (m := VTT_TIMING.match(lines[index])):
            raise UnreadableFile(
                name, f"line {line}: expected a cue timing line such as '00:00:01.000 --> 00:00:04.000'.")
        cues.append(_cue(name, line, m.group(1), m.group(2), lines[index + 1 :]))
    if not cues:
        raise UnreadableFile(name, "has no cues.")
    return cues


def parse_srt(name: str, text: str) -> list[Cue]:
    cues = []
    for line, lines in _blocks(text.removeprefix("\ufeff")):
        index = 1 if lines[0].strip().isdigit() else 0
        if index >= len(lines) or not (m := SRT_TIMING.match(lines[index].strip())):
            raise UnreadableFile(
                name, f"line {line + index}: expected a subtitle timing line such as "
                "'00:00:01,000 --> 00:00:04,000' after the cue number.")
        cues.append(_cue(name, line, m.group(1), m.group(2), lines[index + 1 :]))
    if not cues:
        raise UnreadableFile(name, "has no subtitles.")
    return cues


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _cues_document(name: str, cues: list[Cue], fmt: str, encoding: str) -> Document:
    """One turn per run of cues by the same speaker, written as '[hh:mm:ss] Speaker: text'.
    Unlabelled cues run together up to about 600 characters."""
    runs: list[tuple[str, str | None, list[str]]] = []  # head, speaker, cue texts
    for cue in cues:
        if not cue.text:
            continue
        if runs and cue.speaker == runs[-1][1] and (cue.speaker or len(" ".join(runs[-1][2])) < 600):
            runs[-1][2].append(cue.text)
            continue
        head = f"[{_stamp(cue.start)}] " + (f"{cue.speaker}: " if cue.speaker else "")
        runs.append((head, cue.speaker, [cue.text]))
    lines: list[str] = []
    turns: list[Piece] = []
    pos = 0
    for head, speaker, texts in runs:
        body = " ".join(texts)
        lines.append(head + body)
        turns.append(Piece(pos + len(head), pos + len(head) + len(body), speaker))
        pos += len(lines[-1]) + 2
    return Document("\n\n".join(lines), fmt, encoding, turns)
