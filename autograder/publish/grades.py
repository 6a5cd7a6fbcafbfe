"""grades.csv: one row per student, in roster order.

Columns ``student_id, <grade_id>..., auto_total, manual_total, late_penalty, total, max,
status, sandbox``. A pending hand grade makes ``manual_total`` read ``pending`` and leaves
``late_penalty`` and ``total`` empty: no number that looks final before it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from autograder.run.sandbox import confinement

if TYPE_CHECKING:
    from autograder.course.assignment import Assignment
    from autograder.run.grading import SubmissionResult

# ``sandbox``: the mode the student's code ran in, "bubblewrap" or "none" (--no-sandbox),
# empty when no code ran (no submission, a corrupt file).
CSV_TAIL = ["auto_total", "manual_total", "late_penalty", "total", "max", "status", "sandbox"]


def csv_columns(assignment: Assignment) -> list[str]:
    return ["student_id", *(p.grade_id for p in assignment.parts), *CSV_TAIL]


def csv_row(result: SubmissionResult, assignment: Assignment,
            manual: Mapping[str, float | None], late_fraction: float = 0.0,
            ) -> dict[str, object]:
    """One row of grades.csv. ``manual`` maps hand-graded grade_ids to scores, or None
    where a score is pending; ``late_fraction`` is the share of the earned points a late
    submission loses. A pending hand grade leaves late_penalty and total empty."""
    row: dict[str, object] = {"student_id": result.student_id}
    row.update({p.grade_id: _num(p.points) for p in result.parts})
    row.update(auto_total=_num(result.auto_total), max=_num(assignment.max_points),
               status=result.status, sandbox=confinement(result.sandbox))
    if any(v is None for v in manual.values()):
        row.update(manual_total="pending", late_penalty="", total="")
        return row
    manual_total = sum(manual.values()) if manual else ""
    penalty = late_fraction * (result.auto_total + (manual_total or 0))
    row.update(manual_total=_num(manual_total), late_penalty=_num(penalty),
               total=_num(result.auto_total + (manual_total or 0) - penalty))
    return row


def is_pending(row: Mapping[str, object]) -> bool:
    return row.get("manual_total") == "pending"


def _num(x: float | str) -> int | float | str:
    """A number as grades.csv writes it: 3 rather than 3.0, at most 4 decimals."""
    if x == "":
        return ""
    return int(x) if float(x).is_integer() else round(float(x), 4)
