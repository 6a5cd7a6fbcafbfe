"""``autograder grade``: a whole class, one submission after another."""

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autograder import assignment as assignments
from autograder import feedback
from autograder.errors import SubmissionError
from autograder.gradebook import CourseGradebook, csv_columns, csv_row, write_csv_atomically
from autograder.grading import case_inputs, grade_notebook, missing_result, run_reference
from autograder.notebooks import match_renamed
from autograder.submissions import discover, read_roster


@dataclass
class BatchOutcome:
    assignment: str
    out_dir: Path
    csv_path: Path
    db_url: str
    results: list  # [SubmissionResult]
    sandbox: str


def secret_seed(path):
    """The assignment's secret seed, created once and kept, so regrading is repeatable."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{secrets.randbits(63)}\n")
        path.chmod(0o600)
    return int(path.read_text().strip())


def pick_notebook(submission, assignment):
    """(path, note) of the notebook to grade; raises SubmissionError if there is none."""
    exact = [p for p in submission.candidates if p.name == submission.expected_name]
    if exact:
        return exact[0], None
    source_ids = {p.grade_id for p in assignment.parts} | set(assignment.manual)
    path, _ = match_renamed(submission.candidates, source_ids)
    return path, (f"notebook '{path.name}' is not named {submission.expected_name}; "
                  f"it was matched to the assignment by its cells")


def grade_batch(name, submissions_dir, course_dir, checks_root, roster=None, db_url=None,
                sandboxed=True, echo=print, progress=True):
    a = assignments.load(name, checks_root)
    out_dir = Path(course_dir).resolve() / a.name
    (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}"
    submissions = discover(submissions_dir, a.name, a.notebook.name)
    ids = list(submissions)
    if roster:
        listed = read_roster(roster)
        extra = [s for s in ids if s not in listed]
        for sid in extra:
            echo(f"note: {sid} submitted but is not on the roster; graded anyway")
        ids = listed + extra

    inputs = case_inputs(a, secret_seed(out_dir / "secret-seed"))
    echo(f"Running the reference answer of {a.name} ...")
    reference = run_reference(a, inputs, sandboxed=sandboxed)
    results, rows = [], []
    sandbox = ""
    with CourseGradebook(db_url, a) as gradebook:
        for sid in tqdm(ids, desc=f"grading {a.name}", unit="student", disable=not progress):
            result = _grade_one(sid, submissions.get(sid), a, reference, inputs, sandboxed)
            sandbox = sandbox or result.sandbox
            if result.status != "missing":
                gradebook.record(result)
            manual = gradebook.manual_scores(sid) if result.status != "missing" else {}
            page = feedback.render(result, a, manual)
            feedback.write(out_dir / "feedback" / f"{sid}.html", page)
            rows.append(csv_row(result, a, manual))
            results.append(result)
            if result.status != "ok" or result.notes:
                first = result.notes[0] if result.notes else ""
                tqdm.write(f"{sid}: {result.status} ({result.auto_total:g}/{a.auto_points:g}) "
                           f"{first}")
    csv_path = out_dir / "grades.csv"
    write_csv_atomically(csv_path, csv_columns(a), rows)
    feedback.write(out_dir / "reference.json", json.dumps({
        "cpu_cells": reference.cpu_cells, "cpu_parts": reference.cpu_parts,
        "limits": {"cells_seconds": reference.limits.cells_seconds,
                   "part_seconds": reference.limits.part_seconds},
        "wall_seconds": {r.student_id: round(r.wall_seconds, 3) for r in results},
    }, indent=1))
    return BatchOutcome(a.name, out_dir, csv_path, db_url, results, sandbox)


def _grade_one(sid, submission, a, reference, inputs, sandboxed):
    if submission is None:
        return missing_result(sid, a)
    try:
        path, note = pick_notebook(submission, a)
    except SubmissionError as exc:
        result = missing_result(sid, a)
        result.status, result.notes = exc.status, [exc.message]
        for part in result.parts:
            part.message = exc.message
        return result
    result = grade_notebook(sid, path, a, reference, inputs, sandboxed=sandboxed)
    if note:
        result.notes.insert(0, note)
    return result
