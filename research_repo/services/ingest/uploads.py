"""What arrives: a file held in memory, the kind of source it becomes, and the settings ingest
reads from the app's configuration."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field



from ...ingest.documents import DOCUMENT_FORMATS, extension
from ...ingest.errors import UnreadableFile
from ...ingest.records import RECORD_FORMATS
from ...models import (
    SourceKind,
)


RECORD_KINDS = (SourceKind.TICKET, SourceKind.SURVEY)


@dataclass(frozen=True)
class IngestSettings:
    """What ingest needs from the app's configuration."""

    hash_key: bytes
    chunk_size: int = 500
    max_passage_chars: int = 1200
    # The app's secret, for the keys of study rosters (services.study_terms.roster_key).
    secret_key: bytes = field(default=b"", repr=False)
    # De-identify an import's records in a forked child process (imports.run_import).
    prepare_in_child: bool = True

    @classmethod
    def from_config(cls, config) -> IngestSettings:
        secret = str(config["SECRET_KEY"]).encode()
        return cls(
            hash_key=hmac.new(secret, b"research-repo content key v1", hashlib.sha256).digest(),
            chunk_size=int(config.get("IMPORT_CHUNK_SIZE", 500)),
            max_passage_chars=int(config.get("MAX_PASSAGE_CHARS", 1200)),
            secret_key=secret,
            prepare_in_child=bool(config.get("IMPORT_IN_CHILD_PROCESS", True)),
        )

    def key(self, data: bytes) -> str:
        return hmac.new(self.hash_key, data, hashlib.sha256).hexdigest()


@dataclass
class Upload:
    """A file held in memory: never spooled to disk."""

    name: str
    data: bytes


def kind_for(name: str, kind: SourceKind | None) -> SourceKind:
    fmt = extension(name)
    if kind is not None:
        if fmt in RECORD_FORMATS and kind not in RECORD_KINDS:
            raise UnreadableFile(name, f"is an export ({fmt}); import it as tickets or survey comments.")
        if fmt in DOCUMENT_FORMATS and kind in RECORD_KINDS:
            raise UnreadableFile(name, f"is a document ({fmt}); tickets and survey comments come as csv, json or xlsx.")
        return kind
    if fmt in RECORD_FORMATS:
        return SourceKind.TICKET
    if fmt in DOCUMENT_FORMATS:
        return SourceKind.INTERVIEW
    raise UnreadableFile(name, "is not a type we read: documents are "
                               f"{', '.join(DOCUMENT_FORMATS)}; exports are {', '.join(RECORD_FORMATS)}.", status=415)
