"""Replacing spans of a text, and following offsets through the replacement.

An edit is ``(start, end, new_start, new_end)``: the old span and where its replacement sits
in the new text. Ingest maps passage boundaries through the engine's edits; a hand
redaction maps passages and highlights through its own; both replace with ``replace``.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

Edit = tuple[int, int, int, int]


def replace(text: str, spans: Iterable[tuple[int, int, str]]) -> tuple[str, list[Edit]]:
    """``text`` with each ``(start, end, label)`` (sorted, not overlapping) replaced by its
    label, and the edits that map old offsets to new ones."""
    out, edits, pos, shift = [], [], 0, 0
    for start, end, label in spans:
        out.append(text[pos:start])
        out.append(label)
        new_start = start + shift
        edits.append((start, end, new_start, new_start + len(label)))
        shift += len(label) - (end - start)
        pos = end
    out.append(text[pos:])
    return "".join(out), edits


def move_offset(pos: int, is_end: bool, edits: Sequence[Edit]) -> int:
    """Map an offset through sorted edits. A boundary that falls inside an edited span moves
    to the new span's edge (its end for an end, its start for a start), so a passage or a
    highlight never cuts a marker in two."""
    shift = 0
    for start, end, new_start, new_end in edits:
        if end <= pos:
            shift = new_end - end
            continue
        if start < pos < end:
            return new_end if is_end else new_start
        break
    return pos + shift
