"""Cut a document's canonical text into passages: speaker turns for transcripts, paragraphs
with a length cap for notes. Every piece carries character offsets into the text it came
from, so a passage can always be found again in its source.

Framework-free: no Flask, no ``research_repo``.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

# "Maria:", "MODERATOR:", "[00:01:02] Speaker 2:", "00:01:02 Ana Ruiz:", "P3 (00:04:10):"
_STAMP = r"[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?[\])]?"
SPEAKER = re.compile(
    rf"^[ \t>*_]*(?P<stamp>{_STAMP}[ \t]*[-–]?[ \t]*)?"
    r"(?P<label>[^\W\d_][\w'’.-]*(?:[ \t][\w'’.-]+){0,3}?)"
    rf"[ \t]*(?:{_STAMP})?[ \t*_]*:[ \t]*(?=\S)",
    re.MULTILINE,
)
# Words that start a note line, not a speaker turn ("Note: ...", "Subject: ...").
NOT_SPEAKERS = frozenset(
    "note notes subject re date time location observation observations summary action actions question "
    "questions answer task tasks goal goals finding findings issue issues comment comments follow-up "
    "followup next step steps topic agenda background context result results takeaway takeaways "
    "quote tip warning example http https mailto".split()
)
ROLE_WORDS = {
    "moderator": "MODERATOR",
    "interviewer": "MODERATOR",
    "facilitator": "MODERATOR",
    "researcher": "MODERATOR",
    "note taker": "NOTE_TAKER",
    "notetaker": "NOTE_TAKER",
    "observer": "OBSERVER",
    "agent": "AGENT",
    "customer": "CUSTOMER",
    "caller": "CUSTOMER",
    "unknown": "UNKNOWN",
    "inaudible": "UNKNOWN",
    "crosstalk": "UNKNOWN",
}
NUMBERED = re.compile(r"^(?:p|participant|respondent|r|speaker|spk|s)[ _-]?(\d{1,3})$", re.IGNORECASE)


@dataclass(frozen=True)
class Piece:
    """A span ``text[start:end]`` of the input; ``speaker`` is the label as written, if any."""

    start: int
    end: int
    speaker: str | None = None


def _label_ok(label: str) -> bool:
    words = label.split()
    return bool(words) and words[0].lower().rstrip(".") not in NOT_SPEAKERS and not label.lower().startswith("http")


def speaker_turns(text: str, *, min_share: float = 0.2) -> list[Piece] | None:
    """Speaker turns, or None if ``text`` does not read as a transcript.

    A transcript has labelled lines for at least ``min_share`` of its non-blank lines and
    either two distinct labels or one label used three times. Lines without a label continue
    the turn above; text before the first label is a passage with no speaker.
    """
    matches = [m for m in SPEAKER.finditer(text) if _label_ok(m.group("label"))]
    lines = sum(1 for line in text.splitlines() if line.strip())
    if not matches or lines == 0 or len(matches) / lines < min_share:
        return None
    counts = Counter(" ".join(m.group("label").split()).casefold() for m in matches)
    if len(counts) < 2 and max(counts.values()) < 3:
        return None
    pieces: list[Piece] = []
    first = matches[0].start()
    pieces.extend(_trimmed(text, 0, first, None))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        pieces.extend(_trimmed(text, m.end(), end, " ".join(m.group("label").split())))
    return pieces


def _trimmed(text: str, start: int, end: int, speaker: str | None) -> list[Piece]:
    chunk = text[start:end]
    left = len(chunk) - len(chunk.lstrip())
    right = len(chunk.rstrip())
    if right <= left:
        return []
    return [Piece(start + left, start + right, speaker)]


def paragraphs(text: str, *, max_chars: int = 1200, heading_chars: int = 60) -> list[Piece]:
    """Paragraphs (split at blank lines), each at most ``max_chars`` long; longer ones are cut
    at sentence ends, else at spaces. A short heading line joins the paragraph after it."""
    blocks: list[tuple[int, int]] = []
    pos = 0
    for m in re.finditer(r"\n[ \t]*\n\s*", text):
        blocks.extend((p.start, p.end) for p in _trimmed(text, pos, m.start(), None))
        pos = m.end()
    blocks.extend((p.start, p.end) for p in _trimmed(text, pos, len(text), None))
    merged: list[tuple[int, int]] = []
    carry: int | None = None
    for start, end in blocks:
        if carry is not None:
            start = carry
            carry = None
        body = text[start:end]
        if len(body) <= heading_chars and "\n" not in body and not re.search(r"[.!?:;\"”)]$", body):
            carry = start
            continue
        merged.append((start, end))
    if carry is not None:
        if merged and carry == merged[-1][1]:
            merged[-1] = (merged[-1][0], blocks[-1][1])
        else:
            merged.append((carry, blocks[-1][1]))
    pieces = []
    for start, end in merged:
        pieces.extend(split_long(text, start, end, max_chars))
    return pieces


_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")


def split_long(text: str, start: int, end: int, max_chars: int, speaker: str | None = None) -> list[Piece]:
    """Cut ``text[start:end]`` into pieces of at most ``max_chars``, preferring sentence ends."""
    pieces = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cut = None
        for m in _SENTENCE_END.finditer(window):
            if m.end() >= max_chars // 3:
                cut = m.end()
        if cut is None:
            space = window.rfind(" ", max_chars // 3)
            cut = space + 1 if space > 0 else max_chars
        pieces.extend(_trimmed(text, start, start + cut, speaker))
        start += cut
    pieces.extend(_trimmed(text, start, end, speaker))
    return pieces


def assign_roles(labels: list[str]) -> dict[str, str]:
    """Stable roles for speaker labels, in order of first appearance: role words keep their
    role ("Interviewer" -> MODERATOR), numbered labels keep their number ("Speaker 2" -> P2),
    and every other label (a name) becomes the next free P number."""
    roles: dict[str, str] = {}
    used: set[str] = set()
    order: list[str] = []
    for label in labels:
        key = label.casefold()
        if key not in order:
            order.append(key)
    pending = []
    for key in order:
        plain = key.rstrip(".")
        if plain in ROLE_WORDS:
            roles[key] = ROLE_WORDS[plain]
        elif m := NUMBERED.match(plain):
            roles[key] = f"P{int(m.group(1))}"
        else:
            pending.append(key)
            continue
        used.add(roles[key])
    number = 1
    for key in pending:
        while f"P{number}" in used:
            number += 1
        roles[key] = f"P{number}"
        used.add(roles[key])
    return {label: roles[label.casefold()] for label in labels}
