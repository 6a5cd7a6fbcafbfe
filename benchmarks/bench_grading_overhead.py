"""What grading one submission costs beyond the notebook's own CPU time, before and after.

"Before" is the grader and problem set of commit BEFORE (the state the instructor review
measured, ahead of issue 13's changes), checked out in a temporary git worktree; "after"
is this checkout. Each side grades the same kind of class: SET's solution notebook
(solution markers removed, as a student hands it in) under N_STUDENTS ids, with one
worker and one BLAS thread, so every second is one submission's. The set-up (reference
answer, gradebook) is paid by a first batch of two students; the timed batch then adds
N_STUDENTS new ones, so its wall time per student is the marginal cost of a submission.

The notebook's own CPU time: its code cells (test cells left out, as the grader leaves
them) run top to bottom in a fresh Python process, measured as that process's CPU time.
Overhead = marginal wall time per submission - that CPU time: starting the sandbox, the
kernel-like shell, running the probes on the hidden cases, the source rules, the
gradebook row and the feedback page. Both sides run side by side in one run, so the
machine's load affects them alike.
"""

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import AUTOGRADER_CLI, ENV, RUN_CELLS, autograder_of, checkout_of

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "816bce9"  # main before issue 13's branches were merged
SET = "ps04_batch_norm"
N_STUDENTS = 4


def as_handed_in(notebook):
    """The solution notebook without its solution markers, outputs cleared."""
    nb = json.loads(Path(notebook).read_text())
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = "\n".join(
            line for line in text.splitlines()
            if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def code_cells(nb, test_sources):
    return [c["source"] for c in nb["cells"] if c["cell_type"] == "code"
            and c["source"].strip() not in test_sources]


def notebook_cpu(cells, work):
    """CPU seconds of a fresh Python process running ``cells`` (best of two)."""
    listing = work / "cells.json"
    listing.write_text(json.dumps(cells))
    best = float("inf")
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", RUN_CELLS, str(listing)], cwd=work, env=ENV,
                       capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best


def grade(root, folder, course, env):
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", AUTOGRADER_CLI, "grade", SET.split("_")[0],
                           str(folder), "--course-root", str(root), "--course-dir",
                           str(course), "--workers", "1", "--quiet"],
                          cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"grade failed in {root}:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return wall


def measure(root, tmp, label):
    """(notebook CPU, marginal wall per submission, sandbox wall - CPU per submission,
    points of the timed students) for the grader and set at ``root``."""
    env = dict(ENV, PYTHONPATH=str(root))  # this side's autograder package, not ours
    with autograder_of(root):
        from autograder.course import assignment

        a = assignment.load(SET, root / "solutions")
        test_sources = set(a.test_sources)
    nb = as_handed_in(a.notebook)
    work = tmp / label
    work.mkdir()
    cpu = notebook_cpu(code_cells(nb, test_sources), work)
    first, timed = work / "first", work / "timed"
    for folder, ids in ((first, ["warm0", "warm1"]),
                        (timed, [f"s{i:02d}" for i in range(N_STUDENTS)])):
        folder.mkdir()
        for sid in ids:
            (folder / f"{sid}.ipynb").write_text(json.dumps(nb))
    course = work / "course"
    grade(root, first, course, env)  # reference answer and gradebook paid here
    for sid in ["warm0", "warm1"]:
        shutil.copy(first / f"{sid}.ipynb", timed / f"{sid}.ipynb")  # unchanged: reused
    wall = grade(root, timed, course, env)
    results = [json.loads((course / SET / "results" / f"s{i:02d}.json").read_text())
               for i in range(N_STUDENTS)]
    inside = [r["result"]["wall_seconds"] - r["result"]["cpu_seconds"] for r in results]
    rows = (course / SET / "grades.csv").read_text().splitlines()
    header = rows[0].split(",")
    autos = {r.split(",")[0]: r.split(",")[header.index("auto_total")] for r in rows[1:]}
    return cpu, wall / N_STUDENTS, sum(inside) / len(inside), autos["s00"]


def main():
    with tempfile.TemporaryDirectory() as tmp, checkout_of(BEFORE) as before:
        if before is None:
            print(f"skipped: commit {BEFORE} is not in this clone's history")
            return
        tmp = Path(tmp)
        sides = {"before": measure(before, tmp, "b"), "after": measure(ROOT, tmp, "a")}
    print(f"{SET}, solution handed in by {N_STUDENTS} students, 1 worker, 1 BLAS thread "
          f"(before = {BEFORE}, after = this checkout)")
    print(f"{'':8} {'notebook CPU':>13} {'per submission':>15} {'overhead':>9} "
          f"{'in sandbox, not CPU':>20} {'auto points':>12}")
    for label, (cpu, per, inside, points) in sides.items():
        print(f"{label:8} {cpu:12.2f}s {per:14.2f}s {per - cpu:+8.2f}s {inside:19.2f}s "
              f"{points:>12}")
    b, a = sides["before"], sides["after"]
    print(f"overhead after / before: {(a[1] - a[0]) / (b[1] - b[0]):.2f}x "
          f"(per-submission time after / before: {a[1] / b[1]:.2f}x)")


if __name__ == "__main__":
    main()
