"""Errors the command line reports as one clear line (no traceback)."""


class GraderError(Exception):
    """The batch itself cannot run: a missing folder, a broken problem set, bad options."""


class SubmissionError(Exception):
    """One submission cannot be graded (corrupt notebook, no notebook): it scores 0."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message
