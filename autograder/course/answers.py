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

from autograder.course.assignment import cell_source, nbgrader_cells, outside_solution
from autograder.course.notebooks import read_notebook
from autograder.errors import SubmissionError

TEXT_STUB = "YOUR ANSWER HERE"  # nbgrader's ClearSolutions.text_stub (nbgrader_config.py)


def question_lines(source):
    """Stripped, non-blank lines of a source cell outside its solution region."""
    return outside_solution(source)


def questions(assignment):
    """{grade_id: question lines} of the assignment's hand-graded cells."""
    out = {gid: set() for gid in assignment.manual}
    for cell, meta in nbgrader_cells(read_notebook(assignment.notebook)):
        if meta.get("grade_id") in out:
            out[meta["grade_id"]] = question_lines(cell_source(cell))
    return out


def is_unanswered(text, question):
    left = {line.strip() for line in text.splitlines() if line.strip()} - question
    return left <= {TEXT_STUB}


def unanswered(path, assignment, asked=None):
    """Grade ids of the hand-graded cells left unanswered in the notebook at ``path``
    (every one of them if there is no readable notebook). A cell that is missing from a
    readable notebook is not counted: a human decides (its answer may be elsewhere)."""
    manual = set(assignment.manual)
    if path is None or not manual:
        return manual
    try:
        nb = read_notebook(path)
    except (SubmissionError, OSError):
        return manual
    asked = asked if asked is not None else questions(assignment)
    verdicts = {}  # grade_id -> [unanswered?] per cell carrying it
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
