"""Per-student feedback pages: what passed, what failed and why, in plain words.

Feedback shows each part's verdict and message only: never a hidden input, a reference
value or a line of check code. The page is ``templates/feedback.html`` (see
autograder.publish.pages), which escapes every string from a submission.
"""

from __future__ import annotations

from dataclasses import dataclass

from autograder.publish.pages import number, render_page
from autograder.run.sandbox import confinement


@dataclass
class Row:
    """One line of the feedback table: a part, its verdict and its points."""

    grade_id: str
    css: str  # "pass", "fail", "pending" or "" (the verdict's colour)
    verdict: str
    points: str  # as shown: "2.5", or "–" while a hand-graded part waits for its grader
    max_points: float
    details: str


def render(result, assignment, manual_scores, late=None, unanswered=()) -> str:
    """The feedback page for one student as an HTML string. ``late``: a
    :class:`autograder.intake.late.Lateness`, or None; ``unanswered``: hand-graded cells left as
    released (scored 0 unless a grader gives a score)."""
    rows = []
    for part in result.parts:
        css = "pass" if part.passed else "pending" if part.points > 0 else "fail"
        verdict = "passed" if part.passed else "partly" if part.points > 0 else "not passed"
        rows.append(Row(part.grade_id, css, verdict, number(part.points), part.max_points,
                        part.message))
    for grade_id, points in assignment.manual.items():
        score = manual_scores.get(grade_id)
        if score is None:
            rows.append(Row(grade_id, "pending", "graded by hand", "–", points,
                            "not graded yet"))
        else:
            why = ("no answer: the cell is as it was released"
                   if grade_id in unanswered and not score else "")
            rows.append(Row(grade_id, "", "graded by hand", number(score), points, why))
    given = [s for s in manual_scores.values() if s is not None]
    earned = result.auto_total + sum(given)
    penalty = late.fraction * earned if late else 0.0
    sandbox_css, sandbox_line = _sandbox_line(result)
    return render_page(
        "feedback.html", name=assignment.name, student_id=result.student_id,
        status=result.status, total=earned - penalty, max_points=assignment.max_points,
        pending=len(given) < len(assignment.manual) and result.status != "missing",
        late_message=late.message if late else "", penalty=penalty, rows=rows,
        notes=result.notes, sandbox_css=sandbox_css, sandbox_line=sandbox_line)


def _sandbox_line(result) -> tuple[str, str]:
    """(css class, sentence): how the code was run, in the Bubblewrap sandbox or
    unconfined (--no-sandbox)."""
    mode = confinement(result.sandbox)
    if mode == "bubblewrap":
        return "muted", "Sandbox: your code ran in the Bubblewrap sandbox."
    if mode == "none":
        return "fail", ("Sandbox: none. Your code ran unconfined (the instructor graded "
                        "with --no-sandbox); this grade is provisional.")
    return "muted", "Sandbox: no code of yours was run."
