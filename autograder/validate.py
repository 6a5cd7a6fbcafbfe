"""``autograder validate``: a student's own check, with no course database.

Runs the notebook's code in a separate process (as the grader does, so a crash in one
part does not hide the others), runs every part's visible cases, and reports pass or fail,
the message and the running total of points. It applies the grader's rules (source rules,
shortcuts, partial credit per output) to the saved notebook; the points it shows are
what the visible cases would earn, and only the hidden cases decide the grade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from autograder import visible
from autograder.course.assignment import Assignment, Part
from autograder.errors import GraderError
from autograder.run.grading import Reference, SubmissionResult, grade_notebook
from autograder.run.sandbox import Limits


def validate(notebook: Path | str) -> tuple[SubmissionResult, dict[str, Any]]:
    """Grade ``notebook`` on the visible cases beside it: (result, visible.json's data)."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise GraderError(f"{notebook} does not exist")
    try:
        doc = visible.load(notebook.parent)
    except (FileNotFoundError, ValueError) as exc:
        raise GraderError(str(exc)) from exc
    parts = [Part(grade_id=g, points=p["points"], probe=p["probe"],
                  functions=tuple(p["functions"]), make_inputs=None,
                  cases=len(p["cases"]), rtol=p["rtol"], atol=p["atol"],
                  scorer=p["scorer"], weights=dict(p.get("weights") or {}) or None,
                  own_work=p.get("own_work"))
             for g, p in ((g, doc["parts"][g]) for g in doc["order"])]
    a = Assignment(name=doc["assignment"], folder=notebook.parent, notebook=notebook,
                   parts=parts, manual={}, test_sources=set(),
                   forbidden_modules=tuple(doc["forbidden_modules"]))
    inputs = {(g, c["name"]): {k: visible.array_from_json(v) for k, v in c["inputs"].items()}
              for g, p in doc["parts"].items() for c in p["cases"]}
    expected = {(g, c["name"]): {k: visible.array_from_json(v)
                                 for k, v in c["expected"].items()}
                for g, p in doc["parts"].items() for c in p["cases"]
                if c["expected"] is not None}
    limits = Limits(cell_seconds=600, part_seconds={p.grade_id: 120 for p in parts})
    returned = {g: p["returned"] for g, p in doc["parts"].items() if p.get("returned")}
    reference = Reference(outputs=expected, limits=limits, cpu_cells=0, cpu_parts={},
                          returned=returned)
    result = grade_notebook(notebook.stem, notebook, a, reference, inputs, sandboxed=False)
    return result, doc


def print_report(result: SubmissionResult, doc: dict[str, Any],
                 console: Console | None = None) -> int:
    """Print one row per part; return the exit code (0 when every part passes)."""
    console = console or Console()
    table = Table(title=f"{doc['assignment']}: visible checks of {Path(result.notebook).name}")
    for column in ("part", "result", "points", "so far", "message"):
        table.add_column(column, justify="right" if column in ("points", "so far") else "left")
    so_far = 0.0
    for part in result.parts:
        so_far += part.points
        verdict = ("[green]pass[/]" if part.passed else
                   "[yellow]partly[/]" if part.points > 0 else "[red]fail[/]")
        table.add_row(part.grade_id, verdict, f"{part.points:g}/{part.max_points:g}",
                      f"{so_far:g}", part.message)
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    total = sum(p.max_points for p in result.parts)
    console.print(f"auto-graded points on the visible cases: {so_far:g} of {total:g} "
                  "(derivations are graded by hand). The hidden cases decide the grade: "
                  "passing here is necessary, not sufficient.")
    return 0 if so_far == total else 1
