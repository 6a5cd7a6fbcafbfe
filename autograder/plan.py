"""What a batch must grade, given the class's records and the results saved before.

A student's result is known without running anything when they handed nothing in, when
nothing in their folder can be graded, or when a result saved earlier was graded from the
same bytes under the same checks and sandbox mode (autograder.record.results); everyone
else is a :class:`~autograder.run.Job`. ``--force`` regrades all; an unfinished ``--force``
run is remembered (``regrade-since``), so its interrupted regrade is finished by the next
run without redoing the students it reached.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.assignment import Assignment
from autograder.files import write_atomically
from autograder.intake.records import StudentRecord
from autograder.record.results import ResultStore
from autograder.run import Job
from autograder.run.grading import SubmissionResult, missing_result, not_graded
from autograder.status import Status


@dataclass
class Plan:
    known: dict[str, SubmissionResult]  # results decided without running: missing, saved
    jobs: list[Job]
    reused: int  # saved results reused (same submission, same checks, same mode)
    other_mode: list[str] = field(default_factory=list)  # saved under the other mode

    def first_line(self, where: str) -> str:
        """'Grading 13 submission(s) with 2 worker(s); 5 unchanged since the last run, 1
        without a notebook': only what is true of this run."""
        others = [f"{self.reused} unchanged since the last run" if self.reused else "",
                  f"{len(self.known) - self.reused} without a notebook"
                  if len(self.known) > self.reused else ""]
        tail = ", ".join(o for o in others if o)
        return f"Grading {len(self.jobs)} submission(s) {where}" + (f"; {tail}" if tail else "")


def make_plan(records: dict[str, StudentRecord], assignment: Assignment, store: ResultStore,
              force: bool, not_before: float = 0.0) -> Plan:
    """Split the class into known results and jobs; a saved result from before
    ``not_before`` (a time.time()) is regraded."""
    plan = Plan({}, [], 0)
    for sid, record in records.items():
        if not record.submitted:
            plan.known[sid] = missing_result(sid, assignment)
        elif not record.gradable:
            plan.known[sid] = not_graded(sid, assignment, record.status or Status.NO_NOTEBOOK,
                                         record.problem)
        else:
            saved = None if force else store.load(sid, record.digest, not_before)
            if saved is not None:
                plan.known[sid] = saved
                plan.reused += 1
            else:
                plan.jobs.append(Job(sid, record.notebook, record.note, record.digest))
    plan.other_mode = list(store.other_mode)
    return plan


class ForcedRegrade:
    """A ``--force`` run that has not finished yet: ``regrade-since`` in the assignment's
    folder holds when it started, and every run (with or without ``--force``) regrades the
    results saved before then, so Ctrl-C after ``--force`` and a plain re-run finish the
    regrade without redoing the students it already regraded."""

    def __init__(self, out_dir: Path, force: bool) -> None:
        self.path = Path(out_dir) / "regrade-since"
        try:
            self.since = float(self.path.read_text())
        except (OSError, ValueError):
            self.since = 0.0
        if force and not self.since:
            self.since = time.time()
            write_atomically(self.path, f"{self.since!r}\n")

    def finished(self) -> None:
        self.path.unlink(missing_ok=True)
