"""Spreadsheet cells that a spreadsheet will not run as formulas (CSV and XLSX exports)."""
from __future__ import annotations

DANGEROUS_LEAD = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value):
    """Text starting with = + - @ tab CR or LF gets a leading apostrophe (OWASP's advice for
    CSV injection); other values pass through."""
    if isinstance(value, str) and value[:1] in DANGEROUS_LEAD:
        return "'" + value
    return value


def unsafe_cell(value: str) -> str:
    """Undo ``safe_cell`` when our own export comes back in."""
    return value[1:] if value[:2] in {"'" + c for c in DANGEROUS_LEAD} else value
