"""The one error type of the readers: a message a researcher can act on, naming the file."""
from __future__ import annotations

from ..services.errors import ValidationError


class UnreadableFile(ValidationError):
    """The file cannot be taken as it is; ``message`` says what to fix. Nothing was stored."""

    status = 400

    def __init__(self, name: str, problem: str, *, status: int | None = None) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem
        if status is not None:
            self.status = status
