"""A submission's status, as grades.csv, the feedback page and the report spell it."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """How grading a submission ended. A ``StrEnum``: each status is also its string, so
    it is written to CSV and JSON as the word itself."""

    OK = "ok"  # every cell and probe ran
    ERRORS = "errors"  # some cell or graded function raised
    TIMEOUT = "timeout"  # a cell, a part or the whole run used up its CPU time
    KILLED = "killed"  # the notebook's process died or ran out of memory
    CORRUPT = "corrupt"  # the file is not a readable notebook
    NO_NOTEBOOK = "no-notebook"  # a folder without this set's notebook
    GRADER_ERROR = "grader-error"  # the grader failed on this file: tell the instructor
    MISSING = "missing"  # on the roster, nothing handed in

    @property
    def ran_code(self) -> bool:
        """Whether any of the student's code was run to reach this status."""
        return self in (Status.OK, Status.ERRORS, Status.TIMEOUT, Status.KILLED)
