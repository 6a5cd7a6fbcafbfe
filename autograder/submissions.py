"""Finding each student's notebook in a folder of submissions, and the roster."""

import csv
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GraderError


@dataclass
class Submission:
    student_id: str
    candidates: list  # notebook paths that may hold the answer (usually one)
    expected_name: str  # the assignment's notebook file name


def discover(folder, assignment_name, notebook_name):
    """Submissions in an nbgrader ``submitted/`` tree or a flat folder of notebooks.

    * nbgrader tree: ``folder/<student_id>/<assignment>/*.ipynb``;
    * flat folder: ``folder/<student_id>.ipynb``.

    Returns {student_id: Submission}, sorted by student id.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GraderError(f"submissions folder {folder} does not exist")
    found = {}
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        assignment_dir = student_dir / assignment_name
        if assignment_dir.is_dir():
            notebooks = sorted(p for p in assignment_dir.glob("*.ipynb") if p.is_file())
            found[student_dir.name] = Submission(student_dir.name, notebooks, notebook_name)
    for nb in sorted(folder.glob("*.ipynb")):
        if nb.stem in found:
            raise GraderError(f"student {nb.stem} has both {nb} and a folder in {folder}")
        found[nb.stem] = Submission(nb.stem, [nb], nb.name)
    if not found:
        raise GraderError(
            f"no submissions in {folder}: expected {folder}/<student>/{assignment_name}/"
            f"*.ipynb (nbgrader) or {folder}/<student>.ipynb")
    return found


def read_roster(path):
    """Student ids from a CSV roster: the ``student_id`` column (or ``id``, or the first),
    or from a Canvas gradebook export (see autograder.canvas)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read roster {path}: {exc}") from exc
    if not rows:
        raise GraderError(f"roster {path} is empty")
    from autograder import canvas

    if canvas.is_canvas_roster(rows[0]):
        ids = [canvas.student_id(r) for r in canvas.read_roster(path)]
        if len(set(ids)) != len(ids):
            raise GraderError(f"roster {path} lists a student twice")
        return ids
    header = [h.strip().lower() for h in rows[0]]
    column = next((header.index(h) for h in ("student_id", "id") if h in header), None)
    body = rows[1:] if column is not None else rows
    column = column or 0
    ids = [r[column].strip() for r in body if len(r) > column and r[column].strip()]
    if len(set(ids)) != len(ids):
        raise GraderError(f"roster {path} lists a student twice")
    return ids
