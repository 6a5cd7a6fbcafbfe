"""The class record: who was in the last batch of a set and what the intake found.

``course/<set>/class.json`` is written by ``autograder grade`` before any student is
graded: the options of the run (gradebook, late-policy file, Canvas column, sandbox mode),
the Canvas roster rows, and every student's :class:`~autograder.intake.records.StudentRecord`
in roster order. With the saved results (``results/``) and the gradebook it is all the
publish stage needs, so ``autograder publish`` and ``review import`` rewrite grades.csv,
the Canvas file, the feedback and the report without reading a submission or starting a
sandbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GraderError
from autograder.files import write_atomically
from autograder.intake.records import StudentRecord

FILENAME = "class.json"
FORMAT = 1


@dataclass
class ClassRecord:
    assignment: str
    records: dict[str, StudentRecord]  # roster order
    db_url: str
    sandboxed: bool
    late_file: str | None  # the late policy the batch used, None for none
    canvas_rows: list[dict] | None
    canvas_column: str | None
    submissions: str  # what was graded: folder, notebook or Canvas zip (as given)
    notebooks: str  # where the notebooks are now (the course's copy of a Canvas zip)
    options: dict  # the options of `grade` that shape grades.csv, as given (for warnings)


def save(out_dir: Path, record: ClassRecord) -> None:
    data = {"format": FORMAT, "assignment": record.assignment, "db_url": record.db_url,
            "sandboxed": record.sandboxed, "late_file": record.late_file,
            "canvas_rows": record.canvas_rows, "canvas_column": record.canvas_column,
            "submissions": record.submissions, "notebooks": record.notebooks,
            "options": record.options, "students": [r.to_json() for r in record.records.values()]}
    write_atomically(Path(out_dir) / FILENAME, json.dumps(data, indent=1))


def load(out_dir: Path) -> ClassRecord:
    """The class record of the set's last batch; GraderError when there is none."""
    path = Path(out_dir) / FILENAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')}")
        students = [StudentRecord.from_json(s) for s in data["students"]]
        return ClassRecord(
            assignment=data["assignment"], records={s.student_id: s for s in students},
            db_url=data["db_url"], sandboxed=data["sandboxed"], late_file=data["late_file"],
            canvas_rows=data["canvas_rows"], canvas_column=data["canvas_column"],
            submissions=data["submissions"], notebooks=data["notebooks"],
            options=data["options"])
    except FileNotFoundError as exc:
        raise GraderError(f"no earlier `autograder grade` run found in {out_dir}: grade "
                          "the set first") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GraderError(f"{path} cannot be read ({exc}): run `autograder grade` for "
                          "the set again") from exc
