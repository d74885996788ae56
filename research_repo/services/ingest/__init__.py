"""Ingest: parse, segment, de-identify, store, write the index outbox.

Raw text exists only in memory here. What reaches the database is the de-identified canonical
text, its passages (slices of it), non-identifying metadata, keyed hashes for de-duplication,
and a redaction summary with counts and offsets.

``uploads`` says what arrives; ``intake.receive`` takes one file in (the one use case behind
the upload page and ``research-repo import``); ``passages`` cuts and de-identifies; ``documents`` stores notes and
transcripts in one transaction; ``imports`` stores exports in committed chunks that resume;
``records`` prepares one record of an export. The file readers are ``research_repo.ingest``.
"""
from __future__ import annotations

from ..inputs import deidentifier, display_name, label_spans
from . import preview
from .documents import DocumentOutcome, delete_source, ingest_document
from .intake import DocumentDetails, ExportDetails, Prepared, Received, prepare, receive
from .imports import (
    ImportPlan, ProgressCallback, list_imports, mark_interrupted, rejections_csv, run_import, start_import,
)
from .passages import TRANSCRIPT_KINDS, Review, Segmented, StudyTerms, segment, study_terms
from .records import column_labels, restored_mapping, stored_mapping
from .uploads import RECORD_KINDS, IngestSettings, Upload, kind_for

__all__ = [
    "DocumentDetails", "DocumentOutcome", "Review", "preview", "ExportDetails", "ImportPlan", "IngestSettings",
    "Prepared", "ProgressCallback", "RECORD_KINDS", "Received", "Segmented", "StudyTerms", "prepare", "study_terms",
    "TRANSCRIPT_KINDS", "Upload", "column_labels", "deidentifier", "delete_source", "display_name",
    "ingest_document", "kind_for", "label_spans", "list_imports", "mark_interrupted", "receive", "rejections_csv",
    "restored_mapping", "run_import", "segment", "start_import", "stored_mapping",
]
