"""Domain errors raised by services; the web edge maps each to an HTTP status."""
from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationError(DomainError):
    status = 400


class PermissionDenied(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class HiddenStudy(NotFound):
    """A study that exists but the user may not read: answered as not found (its existence is
    not disclosed), and audited as a permission denial."""


class Conflict(DomainError):
    status = 409


class TooManyAttempts(DomainError):
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
