"""Readers and segmentation: real files in, canonical text, turns and records out, every
refusal a clear message that names the file (and the line or row)."""
from __future__ import annotations

import json

import pytest

from nlp.segment import assign_roles, paragraphs, speaker_turns
from research_repo.ingest.decode import decode
from research_repo.ingest.documents import read_document
from research_repo.ingest.errors import UnreadableFile
from research_repo.ingest.mapping import auto_mapping, build_mapping
from research_repo.ingest.records import BadRecord, Record, read_table

from .ingest_files import docx_bytes, pdf_bytes, xlsx_bytes, zip_bomb_docx

TEXT = "Résumé: the naïve café sent “interim pay” — ½ of it, 5 €."


@pytest.mark.parametrize("encoding, expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"),
    ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be"), ("cp1252", "cp1252"),
])
def test_encodings_decode_to_the_same_text(encoding, expected):
    text, used = decode(TEXT.encode(encoding), "notes.txt")
    assert text == TEXT
    assert used == expected


def test_latin1_text_decodes_correctly():
    text, _ = decode("Ação, café, naïve".encode("latin-1"), "notes.txt")
    assert text == "Ação, café, naïve"


def test_undecodable_bytes_are_refused_with_the_file_name():
    with pytest.raises(UnreadableFile) as err:
        decode(b"caf\x81\x8d and more", "notes.txt")
    assert err.value.message.startswith("notes.txt: is neither UTF-8 nor Windows-1252")


def test_a_forced_wrong_encoding_is_refused_not_garbled():
    with pytest.raises(UnreadableFile, match="is not valid utf-8"):
        decode("café".encode("cp1252"), "notes.txt", "utf-8")


def test_binary_is_refused():
    with pytest.raises(UnreadableFile, match="binary"):
        read_document("notes.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01")


def test_docx_paragraphs_and_tables():
    data = docx_bytes(["Moderator: Welcome.", "P1: The form was confusing."], [["Question", "Answer"], ["Q1", "Yes"]])
    doc = read_document("notes.docx", data)
    assert doc.text == "Moderator: Welcome.\n\nP1: The form was confusing.\n\nQuestion | Answer\n\nQ1 | Yes"


def test_docx_zip_bomb_is_refused_before_parsing():
    with pytest.raises(UnreadableFile) as err:
        read_document("bomb.docx", zip_bomb_docx())
    assert err.value.status == 413
    assert "zip bomb" in err.value.message and err.value.message.startswith("bomb.docx:")


def test_damaged_docx_is_refused():
    with pytest.raises(UnreadableFile, match="damaged"):
        read_document("broken.docx", b"PK\x03\x04 not really a zip")


def test_pdf_text_layer():
    doc = read_document("notes.pdf", pdf_bytes(["The interim pay letter never came.", "I called twice."]))
    assert "The interim pay letter never came." in doc.text and "I called twice." in doc.text


def test_garbage_pdf_is_refused():
    with pytest.raises(UnreadableFile, match="could not be read as a PDF"):
        read_document("notes.pdf", b"%PDF-1.4 nothing else")


def test_vtt_voices_and_labels_become_turns():
    vtt = ("WEBVTT\n\nNOTE exported\n\n1\n00:00:01.000 --> 00:00:04.000 align:start\n<v Jane Doe>Hello &amp; welcome.\n\n"
           "00:00:04.500 --> 00:00:06.000\n<v Jane Doe>Second cue.\n\n00:00:07.000 --> 00:00:09.000\nMaria: I waited.\n")
    doc = read_document("call.vtt", vtt.encode())
    assert [(t.speaker, doc.text[t.start:t.end]) for t in doc.turns] == [
        ("Jane Doe", "Hello & welcome. Second cue."), ("Maria", "I waited.")]


@pytest.mark.parametrize("name, data, message", [
    ("a.vtt", b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\nbroken cue\nwithout timing\n", "a.vtt: line 6: expected a cue timing"),
    ("a.vtt", b"not a vtt\n", "a.vtt: line 1: a WebVTT file must start with WEBVTT"),
    ("a.vtt", b"WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nx\n", "a.vtt: line 3: the cue ends"),
    ("a.srt", b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nbroken\n", "a.srt: line 6: expected a subtitle timing"),
    ("a.srt", b"1\n00:00:01,000 -> 00:00:02,000\nok\n", "a.srt: line 2: expected a subtitle timing"),
])
def test_malformed_captions_are_refused_with_the_line(name, data, message):
    with pytest.raises(UnreadableFile) as err:
        read_document(name, data)
    assert err.value.message.startswith(message)


def test_srt_cues():
    doc = read_document("a.srt", b"1\r\n00:00:01,000 --> 00:00:02,000\r\nJohn: hello\r\n\r\n2\r\n00:00:03,000 --> "
                                 b"00:00:04,000\r\nnarration\r\nsecond line\r\n")
    assert [(t.speaker, doc.text[t.start:t.end]) for t in doc.turns] == [("John", "hello"), (None, "narration second line")]


@pytest.mark.parametrize("name, data, message", [
    ("empty.txt", b"", "empty.txt: is empty."),
    ("blank.md", b"  \n\n ", "blank.md: is empty."),
    ("tool.exe", b"MZ\x90", "tool.exe: is not a document type we read"),
])
def test_empty_and_unknown_files(name, data, message):
    with pytest.raises(UnreadableFile) as err:
        read_document(name, data)
    assert err.value.message.startswith(message)


# ---- Exports


def test_csv_stray_quote_swallows_nothing_silently():
    data = (b'id,Subject,Description,Created\n1,Late,"My annuity, it is late",2024-01-02\n'
            b'2,Login,"multi\nline body",01/05/2024\n\n3,Stray,"this quote never closes,2024-01-03\n'
            b'4,Next,swallowed row,2024-01-04\n5,After,fine,2024-01-05\n')
    table = read_table("t.csv", data)
    assert [type(r).__name__ for r in table.records] == ["Record", "Record", "BadRecord", "BadRecord", "BadRecord"]
    assert table.records[1].fields["Description"] == "multi\nline body"
    assert "a quote on line 6 is not closed" in table.records[2].reason
    assert [r.where for r in table.records[3:]] == ["line 7", "line 8"]


def test_csv_every_physical_record_is_counted_at_scale():
    rows = [b'%d,s,"body %d",2024-01-01' % (i, i) for i in range(2, 20_001)]
    data = b"id,Subject,Description,Created\n1,a,\"stray,2024\n" + b"\n".join(rows) + b"\n"
    table = read_table("big.csv", data)
    assert len(table) == 20_000
    assert len({r.number for r in table.records}) == 20_000
    assert sum(isinstance(r, BadRecord) for r in table.records) > 1  # the stray quote and what it swallowed


def test_csv_wrong_field_count_is_a_rejected_record():
    table = read_table("t.csv", b"a;b;c\n1;2;3\n1;2\n")
    assert isinstance(table.records[0], Record) and table.records[0].fields == {"a": "1", "b": "2", "c": "3"}
    assert table.records[1].reason.startswith("has 2 fields; the header has 3")


@pytest.mark.parametrize("data, message", [
    (b"", "t.csv: is empty."),
    (b"a,b\n", "t.csv: has a header but no records."),
    (b"a,a\n1,2\n", "t.csv: the header names column 'a' twice"),
    (b"a,,c\n1,2,3\n", "t.csv: column 2 has no name"),
])
def test_csv_file_level_problems(data, message):
    with pytest.raises(UnreadableFile) as err:
        read_table("t.csv", data)
    assert err.value.message.startswith(message)


def test_json_and_jsonl():
    table = read_table("t.json", json.dumps({"tickets": [{"id": 1, "body": "x", "meta": {"channel": "web"}}, 5]}).encode())
    assert table.columns == ["id", "body", "meta.channel"]
    assert table.records[0].fields == {"id": "1", "body": "x", "meta.channel": "web"}
    assert table.records[1].reason == "is a int, not an object with fields"
    table = read_table("t.jsonl", b'{"body": "a"}\nnot json\n\n{"body": "b"}\n')
    assert [r.where for r in table.records] == ["line 1", "line 2", "line 4"]
    assert table.records[1].reason.startswith("is not valid JSON")


def test_xlsx_rows():
    from datetime import datetime

    table = read_table("t.xlsx", xlsx_bytes([["Subject", "Description", "Created"],
                                             ["Late", "No payment", datetime(2024, 3, 1, 9, 30)], [None, None, None],
                                             ["Login", "Locked out", 45000]]))
    assert [r.fields for r in table.records] == [
        {"Subject": "Late", "Description": "No payment", "Created": "2024-03-01T09:30:00"},
        {"Subject": "Login", "Description": "Locked out", "Created": "45000"},
    ]
    assert table.records[1].where == "row 4"


def test_zendesk_layout_is_recognised():
    mapping = auto_mapping(["Id", "Subject", "Description", "Requester", "Requester email", "Created at", "Solved at",
                            "Via", "Group", "Satisfaction Score", "Tags"])
    assert mapping.text == ["Subject", "Description"]
    assert mapping.meta == {"created": "Created at", "closed": "Solved at", "channel": "Via", "service": "Group",
                            "csat": "Satisfaction Score", "category": "Tags"}
    assert mapping.names == ["Requester"] and mapping.dropped == ["Requester email"]
    assert mapping.record_id == "Id" and mapping.ignored == []


def test_qualtrics_layout_drops_identifying_columns():
    mapping = auto_mapping(["ResponseId", "StartDate", "IPAddress", "RecipientEmail", "RecipientFirstName",
                            "LocationLatitude", "What could we do better?"])
    assert mapping.text == ["What could we do better?"]
    assert set(mapping.dropped) == {"IPAddress", "RecipientEmail", "LocationLatitude"}
    assert mapping.names == ["RecipientFirstName"]


def test_mapping_errors_name_the_columns():
    with pytest.raises(UnreadableFile, match="no text column was recognised.*Its columns are: a, b"):
        build_mapping("t.csv", ["a", "b"])
    with pytest.raises(UnreadableFile, match="text column 'Body' is not a column of this file"):
        build_mapping("t.csv", ["a", "b"], text_columns=["Body"])
    with pytest.raises(UnreadableFile, match="identifies people"):
        build_mapping("t.csv", ["Email", "Body"], text_columns=["Email"])


# ---- Segmentation


def test_speaker_turns_with_timestamps_and_continuations():
    text = ("Session 2\nModerator: Tell me about it.\n[00:01:02] Speaker 2: It was slow.\nVery slow.\n"
            "MARIA ALVAREZ (00:02:00): Same here.\n")
    turns = speaker_turns(text)
    assert [(t.speaker, text[t.start:t.end]) for t in turns] == [
        (None, "Session 2"), ("Moderator", "Tell me about it."), ("Speaker 2", "It was slow.\nVery slow."),
        ("MARIA ALVAREZ", "Same here.")]


def test_notes_with_labels_are_not_transcripts():
    assert speaker_turns("Note: quiet room.\nSubject: retirement.\nThe participant arrived late.\n") is None


def test_roles_are_stable():
    assert assign_roles(["Interviewer", "Maria Alvarez", "Speaker 2", "maria alvarez", "Bob", "Note taker"]) == {
        "Interviewer": "MODERATOR", "Maria Alvarez": "P1", "Speaker 2": "P2", "maria alvarez": "P1", "Bob": "P3",
        "Note taker": "NOTE_TAKER"}


def test_paragraphs_are_capped_at_sentence_ends():
    text = "Heading\n\n" + " ".join(f"Sentence number {i} is here." for i in range(100))
    pieces = paragraphs(text, max_chars=300)
    assert all(p.end - p.start <= 300 for p in pieces)
    assert text[pieces[0].start:pieces[0].end].startswith("Heading\n\nSentence number 0")
    assert all(text[p.start:p.end].endswith(".") for p in pieces)
