"""Errors the command line reports as one clear line (no traceback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.status import Status


class GraderError(Exception):
    """The batch itself cannot run: a missing folder, a broken problem set, bad options."""


class BatchInterruptedError(GraderError):
    """Ctrl-C or SIGTERM: what finished is saved; the rest is graded by the next run."""


class SubmissionError(Exception):
    """One submission cannot be graded (corrupt notebook, no notebook): it scores 0."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def printable(text: object, limit: int = 300) -> str:
    """One line of plain text from a string a submission controls: control characters
    (terminal escape sequences, carriage returns, newlines) become spaces, and the length
    is capped, so a message can neither redraw the instructor's terminal nor flood it."""
    text = "".join(c if c.isprintable() else " " for c in str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
