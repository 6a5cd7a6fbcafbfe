"""Writing results into nbgrader's gradebook, and grades.csv.

Each student's scores are committed in one transaction, so an interrupted batch leaves
every student either fully recorded or untouched.
"""

import csv
import json
import os
import tempfile
import warnings
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import SaveCells
from sqlalchemy.exc import SAWarning

from autograder.errors import GraderError
from autograder.notebooks import read_notebook
from autograder.sandbox import confinement


class CourseGradebook:
    """nbgrader's gradebook for one assignment (SQLite file or any SQLAlchemy URL).

    Use as a context manager: one connection serves the whole batch (opening an nbgrader
    Gradebook runs an alembic subprocess, too slow to repeat per student).
    """

    def __init__(self, db_url, assignment):
        self.db_url = db_url
        self.assignment = assignment
        self.notebook_id = assignment.notebook.stem
        self.gb = None

    def __enter__(self):
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

    def __exit__(self, *exc):
        self.gb.close()

    def record(self, result):
        """Write one student's auto-graded scores in one transaction; manual scores
        already given are kept."""
        gb = self.gb
        with warnings.catch_warnings():
            # nbgrader's own ORM use triggers harmless SQLAlchemy autoflush warnings.
            warnings.simplefilter("ignore", SAWarning)
            try:
                gb.update_or_create_student(result.student_id)
                try:
                    gb.find_submission(self.assignment.name, result.student_id)
                except MissingEntry:
                    gb.add_submission(self.assignment.name, result.student_id)
                for part in result.parts:
                    grade = gb.find_grade(part.grade_id, self.notebook_id,
                                          self.assignment.name, result.student_id)
                    grade.auto_score = part.points
                gb.db.commit()
            except Exception:
                gb.db.rollback()
                raise

    def manual_scores(self, student_id):
        """Manual scores of the derivation cells, or None where none was given yet."""
        scores = {}
        for grade_id in self.assignment.manual:
            try:
                grade = self.gb.find_grade(grade_id, self.notebook_id, self.assignment.name,
                                           student_id)
            except MissingEntry:
                scores[grade_id] = None
                continue
            scores[grade_id] = grade.manual_score
        return scores


# ``sandbox``: the mode the student's code ran in, "bubblewrap" or "none" (--no-sandbox),
# empty when no code ran (no submission, a corrupt file).
CSV_TAIL = ["auto_total", "manual_total", "late_penalty", "total", "max", "status", "sandbox"]


def csv_columns(assignment):
    return ["student_id", *(p.grade_id for p in assignment.parts), *CSV_TAIL]


def csv_row(result, assignment, manual, late_fraction=0.0):
    """One row of grades.csv. ``manual`` maps derivation grade_ids to scores or None;
    ``late_fraction`` is the share of the earned points a late submission loses."""
    given = [v for v in manual.values() if v is not None]
    manual_total = sum(given) if given else ""
    row = {"student_id": result.student_id}
    row.update({p.grade_id: _num(p.points) for p in result.parts})
    penalty = late_fraction * (result.auto_total + (manual_total or 0))
    row.update(auto_total=_num(result.auto_total), manual_total=_num(manual_total),
               late_penalty=_num(penalty),
               total=_num(result.auto_total + (manual_total or 0) - penalty),
               max=_num(assignment.max_points), status=result.status,
               sandbox=confinement(result.sandbox))
    return row


def _num(x):
    if x == "":
        return ""
    return int(x) if float(x).is_integer() else round(float(x), 4)


def write_csv_atomically(path, columns, rows):
    """Write the whole CSV to a temporary file, then rename it over the old one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".grades-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
