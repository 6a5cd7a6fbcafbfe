"""Per-student feedback pages: what passed, what failed and why, in plain words.

Feedback shows each part's verdict and message only: never a hidden input, a reference
value or a line of check code. Every string from a submission is HTML-escaped.
"""

import html
import os
import tempfile
from pathlib import Path

from autograder.run.sandbox import confinement

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto;
       color: #222; line-height: 1.45; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left;
         vertical-align: top; }
td.pts { white-space: nowrap; text-align: right; }
.pass { color: #176b2c; } .fail { color: #a4161a; } .pending { color: #7a5b00; }
.notes li { margin: .2rem 0; } .muted { color: #666; font-size: .9em; }
"""


def render(result, assignment, manual_scores, late=None, unanswered=()):
    """The feedback page for one student as an HTML string. ``late``: a
    :class:`autograder.intake.late.Lateness`, or None; ``unanswered``: hand-graded cells left as
    released (scored 0 unless a grader gives a score)."""
    e = html.escape
    rows = []
    for part in result.parts:
        cls = "pass" if part.passed else "pending" if part.points > 0 else "fail"
        mark = "passed" if part.passed else "partly" if part.points > 0 else "not passed"
        rows.append(f"<tr><td><code>{e(part.grade_id)}</code></td><td class='{cls}'>{mark}"
                    f"</td><td class='pts'>{_fmt(part.points)} / {_fmt(part.max_points)}</td>"
                    f"<td>{e(part.message)}</td></tr>")
    for grade_id, points in assignment.manual.items():
        score = manual_scores.get(grade_id)
        if score is None:
            rows.append(f"<tr><td><code>{e(grade_id)}</code></td><td class='pending'>graded "
                        f"by hand</td><td class='pts'>– / {_fmt(points)}</td><td>not graded "
                        f"yet</td></tr>")
        else:
            why = ("no answer: the cell is as it was released"
                   if grade_id in unanswered and not score else "")
            rows.append(f"<tr><td><code>{e(grade_id)}</code></td><td>graded by hand</td>"
                        f"<td class='pts'>{_fmt(score)} / {_fmt(points)}</td>"
                        f"<td>{why}</td></tr>")
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    notes_html = f"<h2>Notes</h2><ul class='notes'>{notes}</ul>" if notes else ""
    given = [s for s in manual_scores.values() if s is not None]
    pending = len(given) < len(assignment.manual) and result.status != "missing"
    earned = result.auto_total + sum(given)
    penalty = late.fraction * earned if late else 0.0
    total = earned - penalty
    late_html = (f"<p class='fail'>{e(late.message)} ({_fmt(penalty)} points)</p>"
                 if late and late.message else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(assignment.name)}: feedback for {e(result.student_id)}</title>
<style>{STYLE}</style></head><body>
<h1>{e(assignment.name)}</h1>
<p>Feedback for <strong>{e(result.student_id)}</strong> · status <strong>{e(result.status)}
</strong> · score <strong>{_fmt(total)} / {_fmt(assignment.max_points)}</strong>
{"(so far: hand-graded parts pending)" if pending else ""}</p>
{late_html}
<table><thead><tr><th>part</th><th>result</th><th>points</th><th>details</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{notes_html}
{_sandbox_line(result)}
<p class="muted">Each part was run on inputs you have not seen and compared with the
reference answer. Run <code>autograder validate</code> on your notebook to repeat the
visible checks.</p>
</body></html>
"""


def _sandbox_line(result):
    """How the code was run: in the Bubblewrap sandbox, or unconfined (--no-sandbox)."""
    mode = confinement(result.sandbox)
    if mode == "bubblewrap":
        return "<p class='muted'>Sandbox: your code ran in the Bubblewrap sandbox.</p>"
    if mode == "none":
        return ("<p class='fail'>Sandbox: none. Your code ran unconfined (the instructor "
                "graded with --no-sandbox); this grade is provisional.</p>")
    return "<p class='muted'>Sandbox: no code of yours was run.</p>"


def _fmt(x):
    return f"{x:g}"


def write(path, text):
    """Write a file atomically: a reader sees the old page or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
