"""Build real files in memory for ingest tests: .docx (python-docx), .xlsx (openpyxl), a
minimal .pdf, zip bombs, and exports with planted identifiers."""
from __future__ import annotations

import io
import zipfile

# Identifiers planted in test material; none may be found in the database, index, logs or jobs.
PLANTED = {
    "name": "Maria Alvarez",
    "surname": "Alvarez",
    "email": "maria.alvarez@example.com",
    "phone": "703-555-0142",
    "ssn": "123-45-6789",
    "claim": "CSA 1234567",
    "street": "4417 Quarry Ridge Road",
    "requester": "Deshawn Whitfield",
    "requester_email": "dwhitfield@example.net",
}

TRANSCRIPT = f"""Interview 7, Retirement Services

Moderator: Thanks for joining today, Maria. How did the application go?
{PLANTED['name']}: I mailed it in March. My claim number is {PLANTED['claim']} and my SSN is {PLANTED['ssn']}.
It took months.
Moderator: How did you follow up?
{PLANTED['name']}: I called {PLANTED['phone']} every week and wrote to {PLANTED['email']}.
I live at {PLANTED['street']}, Springfield, VA 22150, so I even drove in. Alvarez is my married name.
"""


def docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        t = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes(rows: list[list]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF with a text layer (Helvetica), written by hand."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def zip_bomb_docx(expanded_mb: int = 20) -> bytes:
    """A .docx-shaped zip whose document.xml expands about 1000 times."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<" + b" " * (expanded_mb * 1024 * 1024) + b">")
    return out.getvalue()


def tickets_csv(rows: int, *, planted_every: int = 1) -> bytes:
    """A Zendesk-shaped ticket export; planted identifiers in text and identifying columns."""
    lines = ["Id,Subject,Description,Requester,Requester email,Created at,Via,Group,Satisfaction Score"]
    for i in range(1, rows + 1):
        body = f"My annuity payment {i} is late and nobody answers the phone."
        if i % planted_every == 0:
            body = (f"This is {PLANTED['requester']}. My claim {PLANTED['claim']} is stuck; call me at "
                    f"{PLANTED['phone']} or write {PLANTED['email']}. SSN {PLANTED['ssn']}. Ticket {i}.")
        lines.append(f'{i},Payment {i},"{body}",{PLANTED["requester"]},{PLANTED["requester_email"]},'
                     f"2024-03-{i % 28 + 1:02d}T10:00:00Z,phone,Retirement Services,{i % 5 + 1}")
    return ("\n".join(lines) + "\n").encode()


def seed_files() -> dict[str, bytes]:
    """One small valid file of every format the readers take, for mutation (fuzzing)."""
    return {
        "notes.txt": "Interview notes: the café letter took six weeks.\nP1: I called twice.\n".encode(),
        "notes.md": "# Notes\n\n- caller waited *weeks*\n- résumé sent\n".encode(),
        "call.vtt": b"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Moderator>How did it go?\n\n"
                    b"00:00:05.000 --> 00:00:09.000\n<v P1>It took months.\n",
        "call.srt": b"1\n00:00:01,000 --> 00:00:04,000\nMODERATOR: How did it go?\n\n2\n00:00:05,000 --> "
                    b"00:00:09,000\nP1: It took months.\n",
        "tickets.csv": 'id,text,channel\n1,"Payment late, café",phone\n2,"Two\nlines",email\n'.encode(),
        "comments.json": b'[{"id": 1, "text": "slow", "meta": {"stage": "waiting"}}, {"id": 2, "text": "ok"}]',
        "comments.jsonl": b'{"id": 1, "text": "slow"}\n{"id": 2, "text": "ok"}\n',
        "tickets.xlsx": xlsx_bytes([["id", "text"], [1, "Payment late"], [2, "Card lost"]]),
        "interview.docx": docx_bytes(["Moderator: How was it?", "P1: Slow."], table=[["a", "b"]]),
        "notes.pdf": pdf_bytes(["Interview notes", "The letter took weeks."]),
    }
