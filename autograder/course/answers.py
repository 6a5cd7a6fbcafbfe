"""Hand-graded answers (derivation cells): which ones a student left unanswered.

nbgrader scores a written answer 0 automatically when the cell is unchanged from the
release, and leaves every other answer to a human. We do the same, but judge "unchanged"
by the text itself, not by the checksum the student's own notebook carries (which a
student could copy from the release after writing an answer, or forge): an answer is
unanswered when, after removing the lines of the question (the cell's text outside its
``### BEGIN/END SOLUTION`` region), nothing is left but the release's stub
``YOUR ANSWER HERE`` and blank lines. A notebook that cannot be read has no answer either
(nbgrader zeroes a missing notebook the same way). The 0 is an automatic score: a hand
score, given later, takes precedence, as in nbgrader.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from autograder.course.assignment import Assignment, cell_source, nbgrader_cells, outside_solution
from autograder.course.notebooks import read_notebook

TEXT_STUB = "YOUR ANSWER HERE"  # nbgrader's ClearSolutions.text_stub (nbgrader_config.py)


def question_lines(source: str) -> set[str]:
    """Stripped, non-blank lines of a source cell outside its solution region."""
    return outside_solution(source)


def questions(assignment: Assignment) -> dict[str, set[str]]:
    """{grade_id: question lines} of the assignment's hand-graded cells."""
    out = {gid: set() for gid in assignment.manual}
    for cell, meta in nbgrader_cells(read_notebook(assignment.notebook)):
        if meta.get("grade_id") in out:
            out[meta["grade_id"]] = question_lines(cell_source(cell))
    return out


def is_unanswered(text: str, question: set[str]) -> bool:
    left = {line.strip() for line in text.splitlines() if line.strip()} - question
    return left <= {TEXT_STUB}


def unanswered(nb: dict[str, Any] | None, assignment: Assignment,
               asked: dict[str, set[str]] | None = None) -> set[str]:
    """Grade ids of the hand-graded cells left unanswered in the notebook data ``nb``
    (every one of them if there is no readable notebook: ``nb`` None). A cell that is
    missing from a readable notebook is not counted: a human decides (its answer may be
    elsewhere)."""
    manual = set(assignment.manual)
    if nb is None or not manual:
        return manual
    asked = asked if asked is not None else questions(assignment)
    verdicts: dict[str, list[bool]] = {}  # grade_id -> [unanswered?] per cell carrying it
    try:
        for cell, meta in nbgrader_cells(nb):
            gid = meta.get("grade_id")
            if gid in manual:
                verdicts.setdefault(gid, []).append(
                    is_unanswered(cell_source(cell), asked.get(gid, set())))
    except Exception:  # noqa: BLE001 - a notebook too malformed to read has no answer
        return manual
    # a grade_id on two cells (a copied cell) is answered if either copy is
    return {gid for gid, flags in verdicts.items() if all(flags)}


def scaffold_lines(source_notebook: Path) -> set[str]:
    """Stripped lines every student's answer cells start with: what the solution cells
    hold outside their ``### BEGIN/END SOLUTION`` blocks, and the stub's two lines."""
    given = {"# YOUR CODE HERE", "raise NotImplementedError()"}
    for cell, meta in nbgrader_cells(read_notebook(source_notebook)):
        if meta.get("solution"):
            given |= outside_solution(cell_source(cell))
    return given


def answer_code(nb: dict[str, Any] | None, given_sources: Collection[str]) -> str:
    """The code a student wrote: their answer cells (nbgrader ``solution`` cells) of the
    notebook data ``nb`` minus lines given in the source notebook; "" without a notebook."""
    if nb is None:
        return ""
    parts = []
    for cell, meta in nbgrader_cells(nb):
        if meta.get("solution") and cell.get("cell_type") == "code":
            lines = [ln for ln in cell_source(cell).splitlines()
                     if ln.strip() and ln.strip() not in given_sources]
            parts.append("\n".join(lines))
    return "\n".join(parts)
