"""Learning-management systems: where grades and feedback go after a batch.

Each adapter has one job in the publish stage (autograder.publish): given the class
record, the results, the grades.csv rows and the feedback pages, write what its system
reads, and return one line per thing the instructor should know. ``adapters_for`` picks
those that apply to a batch:

* :class:`CanvasGrades` (autograder.lms.canvas): ``canvas_grades.csv`` for Canvas's
  gradebook import, when the roster was a Canvas export or ``--canvas-column`` was given
  (the Canvas zip of submissions is read at intake, by the same module);
* :class:`NbgraderFeedback` (autograder.lms.nbgrader_exchange): each feedback page where
  ``nbgrader release_feedback`` finds it, when the submissions were an nbgrader course's
  ``submitted/`` tree (as ``nbgrader collect`` leaves it).

Gradescope is the third system, with another shape: Gradescope runs the grading itself,
one submission per container, from the zip ``autograder export gradescope`` writes
(autograder.lms.gradescope).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from autograder.errors import GraderError

if TYPE_CHECKING:
    from autograder.course.assignment import Assignment
    from autograder.record.classlist import ClassRecord
    from autograder.run.grading import SubmissionResult


@dataclass
class Batch:
    """What an adapter is given: the batch as the publish stage sees it."""

    out_dir: Path
    assignment: Assignment
    record: ClassRecord
    results: dict[str, SubmissionResult]
    rows: dict[str, dict]  # grades.csv rows by student
    pages: dict[str, str]  # feedback pages (HTML) by student


class Adapter(Protocol):
    name: str

    def publish(self, batch: Batch) -> list[str]:
        """Write this system's files; return lines for the instructor."""


class CanvasGrades:
    name = "Canvas"

    def publish(self, batch: Batch) -> list[str]:
        from autograder.lms import canvas

        path = batch.out_dir / "canvas_grades.csv"
        canvas.write_grades(path, batch.record.canvas_column or batch.assignment.name,
                            batch.rows, batch.record.canvas_rows,
                            batch.assignment.max_points)
        return []


class NbgraderFeedback:
    name = "nbgrader exchange"

    def __init__(self, course) -> None:
        self.course = course  # autograder.lms.nbgrader_exchange.NbgraderCourse

    def publish(self, batch: Batch) -> list[str]:
        from autograder.lms.nbgrader_exchange import submitted_student_id, write_feedback

        written, problems = 0, []
        for sid, student in batch.record.records.items():
            notebook = student.notebook
            # the student as the submitted/ tree spells them (the roster may differ in case)
            folder_id = submitted_student_id(self.course, notebook) if notebook else None
            if folder_id is None:
                continue
            try:
                write_feedback(self.course, batch.assignment.name, folder_id, notebook.stem,
                               batch.pages[sid])
                written += 1
            except GraderError as exc:
                problems.append(f"{sid}: {exc}")
        lines = [f"nbgrader feedback: {written} page(s) in "
                 f"{self.course.root / self.course.feedback_directory} for `nbgrader "
                 f"release_feedback {batch.assignment.name}`"]
        if problems:
            lines.append(f"note: feedback of {len(problems)} student(s) not written for "
                         f"nbgrader's exchange, e.g. {problems[0]}")
        return lines


class Unserved:
    """A system the batch seems meant for but that cannot be served: says why, once."""

    def __init__(self, name: str, why: str) -> None:
        self.name, self.why = name, why

    def publish(self, batch: Batch) -> list[str]:
        return [f"note: {self.why}"]


def adapters_for(record: ClassRecord) -> list[Adapter]:
    """The adapters that apply to a batch, in the order they publish."""
    from autograder.lms.nbgrader_exchange import check_exchange

    found: list[Adapter] = []
    if record.canvas_rows is not None or record.canvas_column:
        found.append(CanvasGrades())
    exchange = check_exchange(record.submissions)
    if exchange.course is not None:
        found.append(NbgraderFeedback(exchange.course))
    elif exchange.in_nbgrader_course:  # inside an nbgrader course, but not its submitted/
        found.append(Unserved("nbgrader exchange", exchange.why_not))
    return found
