"""Coding: the codebook (``codebook``), highlights and "tag all results" with its undo
(``highlights``), and codebook files in CSV and REFI-QDA (``qda``).

Free text a researcher types (tag names and descriptions, memos) goes through the
de-identifier before it is stored, like everything else in the repository."""
from __future__ import annotations

from .codebook import (
    DRIVER_SET, HEX_COLOR, create_tag, delete_impact, delete_tag, ensure_driver_tags, get_tag, merge_tags,
    reindex_passages, tags, update_tag, usage,
)
from .highlights import (
    MAX_BULK, Coding, bulk_tag, create_highlight, delete_highlight, get_highlight, get_passage, get_theme,
    highlight_text, highlights_for_passages, locate, recent_actions, undo_bulk,
)
from .qda import (
    CODEBOOK_COLUMNS, GUID_NS, QDA_NS, CodebookImport, code_elements, codebook_csv, codebook_qdc, guid,
    import_codebook_csv, import_codebook_qdc,
)

__all__ = [
    "CODEBOOK_COLUMNS", "DRIVER_SET", "GUID_NS", "HEX_COLOR", "MAX_BULK", "QDA_NS", "Coding", "CodebookImport",
    "bulk_tag", "code_elements", "codebook_csv", "codebook_qdc", "create_highlight", "create_tag", "delete_highlight",
    "delete_impact", "delete_tag", "ensure_driver_tags", "get_highlight", "get_passage", "get_tag", "get_theme",
    "guid", "highlight_text", "highlights_for_passages", "import_codebook_csv", "import_codebook_qdc", "locate",
    "merge_tags", "recent_actions", "reindex_passages", "tags", "undo_bulk", "update_tag", "usage",
]
