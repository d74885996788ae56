"""Bytes to text without guessing wrong: a BOM or valid UTF-8 is believed; UTF-16 without a
BOM is recognised by its zero bytes; other 8-bit text is Windows-1252 (a superset of Latin-1
for printable text). Anything else is refused with a message, never decoded into mojibake."""
from __future__ import annotations

import codecs
import re

from .errors import UnreadableFile

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1")
# C0 controls other than tab, newline, carriage return and form feed; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def decode(data: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """Return (text, encoding used). ``encoding`` forces one (any Python codec name)."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UnreadableFile(name, f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}.") from None
        try:
            return _checked(data.decode(encoding), name, encoding), encoding
        except UnicodeDecodeError as exc:
            raise UnreadableFile(name, f"is not valid {encoding} (byte {exc.start}); check the encoding.") from None
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data[3:], "utf-8", name, "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict(data, "utf-16", name, "utf-16")
    try:
        return _checked(data.decode("utf-8"), name, "utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" or _mostly_utf8(data):
            # Decoding the whole file as Windows-1252 would turn every "é" into "Ã©".
            line = data.count(b"\n", 0, exc.start) + 1
            raise UnreadableFile(
                name, f"is UTF-8 except for byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}), "
                "which is damaged or cut short. Fix that line, or save the file as UTF-8 again, and upload it "
                "again; or name the encoding if it is not UTF-8.") from None
    sample = data[:4096]
    even, odd = sample[0::2], sample[1::2]
    if len(sample) >= 8 and len(sample) % 2 == 0 and 0 in sample:
        # Latin text in UTF-16 has a zero in most high bytes and almost none in the low ones:
        # even positions for big-endian, odd for little-endian.
        for high, low, guess in ((even, odd, "utf-16-be"), (odd, even, "utf-16-le")):
            if high.count(0) >= 0.6 * len(high) and low.count(0) <= 0.02 * len(low):
                return _strict(data, guess, name, guess)
    if 0 in data:
        raise UnreadableFile(name, "looks like a binary file, not text. Upload .txt, .md, .docx, .pdf, .vtt or .srt.")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            name,
            f"is neither UTF-8 nor Windows-1252 (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            "Save it as UTF-8 and upload it again, or name the encoding.",
        ) from None
    return _checked(text, name, "cp1252"), "cp1252"


UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _mostly_utf8(data: bytes) -> bool:
    """The file holds valid multi-byte UTF-8 ("é" as C3 A9): it is a UTF-8 file with damaged
    bytes, not Windows-1252 text, where "é" is one byte and an accented capital is seldom
    followed by the punctuation bytes UTF-8 needs after it. Refusing is the safe side: a
    person can name the encoding on the upload form."""
    return UTF8_SEQUENCE.search(data) is not None


def _strict(data: bytes, codec: str, name: str, label: str) -> tuple[str, str]:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(name, f"is not valid {label} (byte {exc.start}); save it as UTF-8 and try again.") from None
    return _checked(text.removeprefix("\ufeff"), name, label), label


def _checked(text: str, name: str, encoding: str) -> str:
    controls = _CONTROL.findall(text[:100_000])
    # A few stray controls happen in real exports; many mean the guess was wrong or it is binary.
    if len(controls) > 2 + len(text[:100_000]) // 1000:
        raise UnreadableFile(
            name, f"decodes as {encoding} but is full of control characters; it is probably not text "
            "or not in that encoding.",
        )
    return text
