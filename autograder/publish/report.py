"""The class report: one self-contained HTML page per assignment (plots inline, no network).

Score distribution, pass rate per part, time per submission, every submission that needs
attention, and pairs of submissions whose answer code is near-identical. Every string a
student controls is HTML-escaped.
"""

import base64
import builtins
import html
import io
import itertools
import keyword
import tokenize
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from autograder.course.assignment import cell_source, nbgrader_cells, outside_solution  # noqa: E402
from autograder.course.notebooks import read_notebook  # noqa: E402
from autograder.run.sandbox import confinement  # noqa: E402

SIMILAR = 0.9  # Jaccard similarity of normalised token 4-grams that counts as near-identical
MIN_TOKENS = 20
BUILTINS = set(dir(builtins))  # answers shorter than this are too small to compare


def normalised_tokens(source):
    """Python tokens without comments or layout, and every variable or function name
    replaced by ``ID`` (so renaming does not hide a copy); attribute names (np.maximum),
    builtins (len, range), keywords and numbers are kept."""
    out, previous = [], ""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except Exception:  # noqa: BLE001 - any text a student wrote: compare its words instead
        return source.split()
    for tok in tokens:
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        text = tok.string
        if tok.type == tokenize.STRING:
            text = "STR"
        elif (tok.type == tokenize.NAME and not keyword.iskeyword(text) and previous != "."
              and text not in BUILTINS):
            text = "ID"
        out.append(text)
        previous = tok.string
    return out


def scaffold_lines(source_notebook):
    """Stripped lines every student's answer cells start with: what the solution cells
    hold outside their ``### BEGIN/END SOLUTION`` blocks, and the stub's two lines."""
    given = {"# YOUR CODE HERE", "raise NotImplementedError()"}
    for cell, meta in nbgrader_cells(read_notebook(source_notebook)):
        if meta.get("solution"):
            given |= outside_solution(cell_source(cell))
    return given


def answer_code(path, given_sources):
    """The code a student wrote: their answer cells (nbgrader ``solution`` cells) minus
    lines given in the source notebook; "" if the notebook cannot be read."""
    try:
        nb = read_notebook(path)
    except Exception:  # noqa: BLE001 - an unreadable notebook has no answer to compare
        return ""
    parts = []
    for cell, meta in nbgrader_cells(nb):
        if meta.get("solution") and cell.get("cell_type") == "code":
            lines = [ln for ln in cell_source(cell).splitlines()
                     if ln.strip() and ln.strip() not in given_sources]
            parts.append("\n".join(lines))
    return "\n".join(parts)


def shingles_of(code):
    """The set of normalised token 4-grams of ``code``."""
    tokens = normalised_tokens(code)
    return {tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3)}


def similar_pairs(codes, threshold=SIMILAR, reference=""):
    """[(similarity, a, b)] for pairs of students whose answer code is near-identical.

    4-grams that also occur in ``reference`` (the solution's own answer code) are left
    out first: two students who both wrote what the reference answer says (short parts
    have few ways to be right) are not a copy; what they share beyond it is compared."""
    known = shingles_of(reference) if reference else set()
    shingles = {}
    for sid, code in codes.items():
        own = shingles_of(code) - known
        if len(own) >= MIN_TOKENS - 3:
            shingles[sid] = own
    pairs = []
    for a, b in itertools.combinations(sorted(shingles), 2):
        sa, sb = shingles[a], shingles[b]
        similarity = len(sa & sb) / len(sa | sb)
        if similarity >= threshold:
            pairs.append((similarity, a, b))
    return sorted(pairs, reverse=True)


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return ("<img alt='plot' src='data:image/png;base64,"
            f"{base64.b64encode(buffer.getvalue()).decode()}'>")


def points_so_far(row):
    """A grades.csv row's total, or while hand grades are pending its points so far
    (automatic plus hand scores given, before any late penalty)."""
    if row["total"] != "":
        return float(row["total"])
    manual = row.get("manual_total")
    return float(row["auto_total"]) + (float(manual) if manual not in ("", "pending")
                                       else 0.0)


def _plots(assignment, results, totals):
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.hist(totals or [0], bins=min(20, max(5, len(totals) // 3)), color="tab:blue")
    ax.set(xlabel=f"total points (of {assignment.max_points:g}; without missing students)",
           ylabel="students", title="Score distribution")
    scores = _png(fig)

    graded = [r for r in results if r.status != "missing"]
    rates = [sum(p.passed for r in graded for p in r.parts if p.grade_id == part.grade_id)
             / max(1, len(graded)) for part in assignment.parts]
    fig, ax = plt.subplots(figsize=(5.5, 0.35 * len(rates) + 1))
    ax.barh([p.grade_id for p in assignment.parts], rates, color="tab:green")
    ax.set(xlim=(0, 1), xlabel="share of submissions passing", title="Pass rate per part")
    ax.invert_yaxis()
    passes = _png(fig)

    times = [r.wall_seconds for r in graded if r.wall_seconds]
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.hist(times or [0], bins=20, color="tab:orange")
    ax.set(xlabel="seconds (wall clock, in the sandbox)", ylabel="submissions",
           title="Time per submission")
    timing = _png(fig)
    return scores, passes, timing


def render(assignment, results, rows, lateness, codes, sandbox, reference_code=""):
    """The report page as an HTML string. ``rows``: grades.csv rows by student."""
    e = html.escape
    # Statistics describe the work handed in: missing students are counted, not averaged.
    submitted = [r for r in results if r.status != "missing"]
    totals = [points_so_far(rows[r.student_id]) for r in submitted]
    pending = sum(rows[r.student_id]["total"] == "" for r in submitted)
    scores, passes, timing = _plots(assignment, results, totals)
    counts = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    attention = []
    for r in results:
        late = lateness.get(r.student_id)
        if r.status != "ok" or r.notes or (late and late.message):
            why = "; ".join([*r.notes[:2], *([late.message] if late and late.message else [])])
            total = rows[r.student_id]["total"]
            attention.append(f"<tr><td>{e(r.student_id)}</td><td>{e(r.status)}</td>"
                             f"<td>{e(str(total) if total != '' else 'pending')}</td>"
                             f"<td>{e(why)}</td></tr>")
    pairs = similar_pairs(codes, reference=reference_code)
    pair_rows = "".join(f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{s:.0%}</td></tr>"
                        for s, a, b in pairs) or "<tr><td colspan='3'>none</td></tr>"
    summary = ", ".join(f"{n} {e(s)}" for s, n in sorted(counts.items()))
    modes = {}
    for r in results:
        mode = confinement(r.sandbox) or "no code run"
        modes[mode] = modes.get(mode, 0) + 1
    mode_line = ", ".join(f"{n} {e(m)}" for m, n in sorted(modes.items()))
    unconfined = (f"<p style='color:#a4161a;font-weight:bold'>{modes['none']} submission(s) "
                  "ran WITHOUT a sandbox (--no-sandbox): unconfined, as the grader's user. "
                  "Not for credit: grade again with bubblewrap installed.</p>"
                  if modes.get("none") else "")
    mean = f"{sum(totals) / len(totals):.2f}" if totals else "–"
    missing = len(results) - len(submitted)
    so_far = (f"; {pending} with hand-graded parts pending count their points so far"
              if pending else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(assignment.name)}: class report</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
padding: 0 1rem; color: #222; }} table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left;
vertical-align: top; }} .plots img {{ margin: .5rem; }}</style></head><body>
<h1>{e(assignment.name)}: class report</h1>
<p>{len(results)} students ({summary}); mean total {mean} of {assignment.max_points:g}
over the {len(submitted)} who submitted ({missing} missing left out of every statistic{so_far});
sandbox: {e(sandbox or "not run")} ({mode_line});
written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>
{unconfined}
<div class="plots">{scores}{passes}{timing}</div>
<h2>Needs attention ({len(attention)})</h2>
<table><thead><tr><th>student</th><th>status</th><th>total</th><th>why</th></tr></thead>
<tbody>{"".join(attention) or "<tr><td colspan='4'>nobody</td></tr>"}</tbody></table>
<h2>Near-identical answers ({len(pairs)} pairs)</h2>
<p>Pairs whose answer code, with comments, layout and variable names normalised, shares at
least {SIMILAR:.0%} of its token 4-grams, leaving out those of the reference answer and the
scaffold (two students who both wrote the reference's code are not listed). A lead to look
at, not a verdict.</p>
<table><thead><tr><th>student</th><th>student</th><th>similarity</th></tr></thead>
<tbody>{pair_rows}</tbody></table>
</body></html>
"""
