"""Finding each student's notebook in a folder of submissions, and the roster."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GraderError, printable


@dataclass
class Submission:
    student_id: str
    candidates: list[Path]  # notebooks that may hold the answer (usually one)
    expected_name: str  # the assignment's notebook file name


def discover(folder: Path | str, assignment_name: str,
             notebook_name: str) -> dict[str, Submission]:
    """Submissions in an nbgrader ``submitted/`` tree, a flat folder of notebooks, or one
    notebook file:

    * nbgrader tree: ``folder/<student_id>/<assignment>/*.ipynb``;
    * flat folder: ``folder/<student_id>.ipynb``;
    * one notebook ``<student_id>.ipynb``: that student alone.

    Sorted by student id. Two ids that differ only in case are refused (see
    autograder.intake).
    """
    folder = Path(folder)
    if folder.is_file() and folder.suffix.lower() == ".ipynb":
        return {folder.stem: Submission(folder.stem, [folder], folder.name)}
    if folder.is_file():
        raise GraderError(f"{folder} is a file, not a folder of submissions, a notebook "
                          "(.ipynb) or a Canvas zip (.zip)")
    if not folder.is_dir():
        raise GraderError(f"submissions folder {folder} does not exist")
    found: dict[str, Submission] = {}
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
    seen = {}
    for sid in sorted(found):
        if sid.casefold() in seen:
            raise GraderError(f"submissions '{seen[sid.casefold()]}' and '{sid}' in {folder} "
                              "differ only in case: one student's id must be spelled one "
                              "way (rename or remove one)")
        seen[sid.casefold()] = sid
    return dict(sorted(found.items()))


def read_roster_text(path: Path | str) -> str:
    """A roster file's text, or GraderError (one line)."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderError(f"cannot read roster {path}: {exc}") from exc


def read_roster(path: Path | str, text: str | None = None) -> list[str]:
    """Student ids from a CSV roster: its ``student_id`` column, or a Canvas gradebook
    export (see autograder.lms.canvas). Raises GraderError (one line) for a roster without
    that column, and for a student listed twice, naming the id and both lines; ids that
    differ only in case are the same student. ``text``: the file's text, if read already."""
    path = Path(path)
    text = read_roster_text(path) if text is None else text
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise GraderError(f"cannot read roster {path}: {exc}") from exc
    if not rows:
        raise GraderError(f"roster {path} is empty")
    from autograder.lms import canvas

    if canvas.is_canvas_roster(rows[0][1]):
        return [canvas.student_id(r) for r in canvas.split_roster(path, text)[0]]
    header = [h.strip().lower() for h in rows[0][1]]
    if "student_id" not in header:
        shown = printable(", ".join(rows[0][1]), 80) or "(blank)"
        raise GraderError(f"roster {path} has no student_id column (its first line: "
                          f"{shown}); name the column of student ids student_id, or give "
                          "Canvas's gradebook export")
    column = header.index("student_id")
    ids, lines = [], {}
    for line, row in rows[1:]:
        sid = row[column].strip() if len(row) > column else ""
        if not sid:
            continue
        if sid.casefold() in lines:
            first, spelled = lines[sid.casefold()]
            same = "" if spelled == sid else f" (as '{spelled}'; ids differing only in " \
                                             "case are one student)"
            raise GraderError(f"roster {path} lists student '{printable(sid, 60)}' twice: "
                              f"lines {first} and {line}{same}")
        lines[sid.casefold()] = (line, sid)
        ids.append(sid)
    return ids
