"""Writing results into nbgrader's gradebook: the one writer of grades during a batch.

Each student's scores are committed in one transaction, so an interrupted batch leaves
every student either fully recorded or untouched. The grader writes automatic scores
(``auto_score``, nbgrader's ``needs_manual_grade``, the submission time and the late
penalty); hand scores (``manual_score``) enter through ``review import``, which also keeps
them in the course folder (autograder.record.handscores), and grading, re-grading or ``--force``
only ever puts the gradebook's hand scores back to what was entered there.

A hand-graded cell's score is nbgrader's: the hand score if one was given, else the
automatic one (0 for an unanswered cell, see autograder.course.answers), else *pending*. A
pending cell makes the student's ``manual_total`` read ``pending`` in grades.csv and leaves
``late_penalty`` and ``total`` empty (and the Canvas cell empty): no number that looks
final before it is.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import SaveCells
from nbgrader.utils import parse_utc
from sqlalchemy.exc import SAWarning

from autograder.course.notebooks import read_notebook
from autograder.errors import GraderError

if TYPE_CHECKING:
    from autograder.course.assignment import Assignment
    from autograder.run.grading import SubmissionResult


class CourseGradebook:
    """nbgrader's gradebook for one assignment (SQLite file or any SQLAlchemy URL).

    Use as a context manager: one connection serves the whole batch (opening an nbgrader
    Gradebook runs an alembic subprocess, too slow to repeat per student).
    """

    def __init__(self, db_url: str, assignment: Assignment) -> None:
        self.db_url = db_url
        self.assignment = assignment
        self.notebook_id = assignment.notebook.stem
        self.gb: Gradebook | None = None  # open inside the ``with`` block

    def __enter__(self) -> CourseGradebook:
        try:
            self.gb = Gradebook(self.db_url)
        except Exception as exc:
            raise GraderError(f"cannot open the gradebook {self.db_url}: {exc}") from exc
        self.gb.update_or_create_assignment(self.assignment.name)
        try:
            self.gb.find_notebook(self.notebook_id, self.assignment.name)
        except MissingEntry:
            # Record the notebook's grade and solution cells as nbgrader's
            # generate_assignment would; nbformat joins multi-line sources first.
            nb = nbformat.reads(json.dumps(read_notebook(self.assignment.notebook)),
                                as_version=4)
            resources = {"nbgrader": {"db_url": self.db_url, "assignment": self.assignment.name,
                                      "notebook": self.notebook_id}}
            SaveCells().preprocess(nb, resources)
        return self

    def __exit__(self, *exc: object) -> None:
        self.gb.close()

    def set_due_date(self, due: datetime | None) -> None:
        """The assignment's due date (aware), for nbgrader's export."""
        self.gb.update_or_create_assignment(self.assignment.name,
                                            duedate=parse_utc(due) if due else None)

    def hand_scores(self) -> dict[tuple[str, str], float]:
        return hand_scores_in(self.gb, self.assignment)

    def record(self, result: SubmissionResult, unanswered: Collection[str] = frozenset(),
               late_fraction: float = 0.0, submitted: datetime | None = None,
               hand: Mapping[str, float] | None = None,
               ) -> list[tuple[str, float | None, float | None]]:
        """Write one student's automatic scores in one transaction. ``unanswered``:
        hand-graded cells left as released (scored 0 automatically); ``late_fraction``:
        the share of the points a late submission loses; ``submitted``: when it was handed
        in (aware); ``hand``: {grade_id: score} entered for this student
        (autograder.record.handscores), which the gradebook's hand scores are made to match, or
        None to leave them as they are. Returns the cells whose hand score had to change,
        as [(grade_id, in the gradebook, entered)]."""
        gb, a = self.gb, self.assignment
        changed: list[tuple[str, float | None, float | None]] = []
        with warnings.catch_warnings():
            # nbgrader's own ORM use triggers harmless SQLAlchemy autoflush warnings.
            warnings.simplefilter("ignore", SAWarning)
            try:
                gb.update_or_create_student(result.student_id)
                try:
                    submission = gb.find_submission(a.name, result.student_id)
                except MissingEntry:
                    submission = gb.add_submission(a.name, result.student_id)
                if submitted is not None:
                    submission.timestamp = parse_utc(submitted)
                for part in result.parts:
                    grade = gb.find_grade(part.grade_id, self.notebook_id, a.name,
                                          result.student_id)
                    grade.auto_score = part.points
                    if hand is not None and grade.manual_score is not None:
                        # never written by autograder: an override from elsewhere
                        changed.append((part.grade_id, grade.manual_score, None))
                        grade.manual_score = None
                    grade.needs_manual_grade = grade.manual_score is not None
                given = 0.0
                for gid in a.manual:
                    grade = gb.find_grade(gid, self.notebook_id, a.name, result.student_id)
                    if hand is not None and grade.manual_score != hand.get(gid):
                        changed.append((gid, grade.manual_score, hand.get(gid)))
                        grade.manual_score = hand.get(gid)
                    grade.auto_score = 0.0 if gid in unanswered else None
                    grade.needs_manual_grade = (grade.manual_score is None
                                                and gid not in unanswered)
                    given += grade.manual_score or 0.0
                # nbgrader's own late-penalty column (points), so that `nbgrader export`
                # subtracts the same penalty as grades.csv
                notebook = gb.find_submission_notebook(self.notebook_id, a.name,
                                                       result.student_id)
                notebook.late_submission_penalty = late_fraction * (result.auto_total + given)
                gb.db.commit()
            except Exception:
                gb.db.rollback()
                raise
        return changed

    def set_late_penalty(self, result: SubmissionResult, late_fraction: float) -> None:
        """nbgrader's late-penalty column (points) of one student, from the share of the
        earned points a late submission loses: so that `nbgrader export` subtracts the
        same penalty as grades.csv after the late policy changed."""
        given = sum(v or 0.0 for v in self.manual_scores(result.student_id).values())
        notebook = self.gb.find_submission_notebook(self.notebook_id, self.assignment.name,
                                                    result.student_id)
        notebook.late_submission_penalty = late_fraction * (result.auto_total + given)
        self.gb.db.commit()

    def manual_scores(self, student_id: str) -> dict[str, float | None]:
        """{grade_id: score} of the hand-graded cells: the hand score if given, else the
        automatic 0 of an unanswered cell, else None (pending)."""
        scores: dict[str, float | None] = {}
        for grade_id in self.assignment.manual:
            try:
                grade = self.gb.find_grade(grade_id, self.notebook_id, self.assignment.name,
                                           student_id)
            except MissingEntry:
                scores[grade_id] = None
                continue
            scores[grade_id] = grade.manual_score if grade.manual_score is not None \
                else grade.auto_score
        return scores


def hand_scores_in(gb: Gradebook, assignment: Assignment) -> dict[tuple[str, str], float]:
    """{(student_id, grade_id): hand score} of the assignment's hand-graded cells in an
    open nbgrader Gradebook."""
    found = {}
    for submission in gb.assignment_submissions(assignment.name):
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name in assignment.manual and grade.manual_score is not None:
                    found[(submission.student.id, grade.name)] = grade.manual_score
    return found
