"""Recording results: the gradebook, the saved results, the hand scores, the class record.

:class:`Recorder` is the one writer during a batch: results arrive from the runner's
threads, and only the batch's own thread commits them, one student at a time, so
nbgrader's SQLite gradebook never sees two writers and an interrupted batch loses no
student whose result was committed.
"""

from __future__ import annotations

from collections.abc import Callable

from autograder.intake.late import Lateness
from autograder.intake.records import StudentRecord
from autograder.record.gradebook import CourseGradebook
from autograder.record.results import ResultStore
from autograder.run.grading import SubmissionResult
from autograder.status import Status


class Recorder:
    """Commits each student's result: the gradebook row (automatic scores, submission
    time, late penalty; hand scores put back to what was entered), the saved result, and
    ``on_commit(result, manual scores)`` (the batch writes the feedback page there)."""

    def __init__(self, gradebook: CourseGradebook, store: ResultStore,
                 records: dict[str, StudentRecord], lateness: dict[str, Lateness],
                 entered: dict[tuple[str, str], float],
                 on_commit: Callable[[SubmissionResult, dict], None]) -> None:
        self.gradebook, self.store = gradebook, store
        self.records, self.lateness, self.entered = records, lateness, entered
        self.on_commit = on_commit
        self.repaired: list[tuple] = []  # hand scores put back: (student, grade_id, was, now)
        self.results: dict[str, SubmissionResult] = {}

    def commit(self, result: SubmissionResult, digest: str | None = None) -> None:
        """Record one result; ``digest``: the submission's, when it was graded now (a
        result decided without running, or reused, is not saved again)."""
        sid = result.student_id
        record = self.records[sid]
        manual = {}
        if result.status != Status.MISSING:
            hand = {g: v for (s, g), v in self.entered.items() if s == sid}
            self.repaired.extend((sid, *change) for change in self.gradebook.record(
                result, record.unanswered, self.lateness[sid].fraction, record.submitted_at,
                hand))
            manual = self.gradebook.manual_scores(sid)
        if digest is not None:
            self.store.save(result, digest)
        self.results[sid] = result
        self.on_commit(result, manual)
