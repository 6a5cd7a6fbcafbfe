"""The class report: one self-contained HTML page per assignment (plots inline, no network).

Score distribution, pass rate per part, time per submission, every submission that needs
attention, and pairs of submissions whose answer code is near-identical. The page is
``templates/report.html`` (autograder.publish.pages), which escapes every string a student
controls.
"""

from __future__ import annotations

import base64
import builtins
import io
import itertools
import keyword
import tokenize
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from markupsafe import Markup  # noqa: E402

from autograder.publish.pages import render_page  # noqa: E402
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


def render(assignment, results, rows, lateness, codes, sandbox, reference_code="") -> str:
    """The report page (``templates/report.html``) as an HTML string. ``rows``: grades.csv
    rows by student."""
    # Statistics describe the work handed in: missing students are counted, not averaged.
    submitted = [r for r in results if r.status != "missing"]
    totals = [points_so_far(rows[r.student_id]) for r in submitted]
    counts, modes, attention = {}, {}, []
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
        mode = confinement(r.sandbox) or "no code run"
        modes[mode] = modes.get(mode, 0) + 1
        late = lateness.get(r.student_id)
        if r.status != "ok" or r.notes or (late and late.message):
            why = "; ".join([*r.notes[:2], *([late.message] if late and late.message else [])])
            total = rows[r.student_id]["total"]
            attention.append({"student_id": r.student_id, "status": r.status, "why": why,
                              "total": str(total) if total != "" else "pending"})
    # the plots are PNGs the report drew itself, inline as data: URLs
    plots = Markup("".join(_plots(assignment, results, totals)))
    return render_page(
        "report.html", name=assignment.name, students=len(results),
        summary=", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        mean=f"{sum(totals) / len(totals):.2f}" if totals else "–",
        max_points=assignment.max_points, submitted=len(submitted),
        missing=len(results) - len(submitted),
        pending=sum(rows[r.student_id]["total"] == "" for r in submitted),
        sandbox=sandbox or "not run",
        modes=", ".join(f"{n} {m}" for m, n in sorted(modes.items())),
        unconfined=modes.get("none", 0), written=f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        plots=plots, attention=attention, threshold=SIMILAR,
        pairs=similar_pairs(codes, reference=reference_code))
