"""`autograder grade` vs plain `nbgrader autograde` on the same 40 ps01 submissions.

nbgrader autograde runs one notebook at a time in one process (its gradebook allows
no other way); ours runs its default, one worker per core. BLAS is pinned to one thread
per process on both sides. The submissions
are the solution with a random subset of its answer cells reset to the release stub
(students who finished some parts), so both graders should agree on every score.
Prints the wall-time ratio, whether the scores agree, and our per-submission time
against the reference answer's own run time.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ps01_fully_connected"
N_STUDENTS = 40
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OPENBLAS_NUM_THREADS="1",
           OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
STUB = "raise NotImplementedError()"


def make_submission(nb, rng, p_stub=0.25):
    """The solution without solution markers, some answer cells reset to the stub."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and meta.get("solution") and rng.random() < p_stub:
            text = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION",
                          lambda m: m.group(1) + STUB, text, flags=re.S)
        text = "\n".join(ln for ln in text.splitlines()
                         if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
        cell["source"] = text
        cell["outputs"] = [] if cell["cell_type"] == "code" else cell.get("outputs")
        if cell["outputs"] is None:
            cell.pop("outputs")
    return nb


def run(command, cwd):
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - t0, done.stdout


def nbgrader_scores(course):
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            auto = sum(g.auto_score or 0 for nb in sub.notebooks for g in nb.grades
                       if g.cell.cell_type != "markdown")
            scores[sub.student.id] = auto
    return scores


def main():
    source = ROOT / "solutions" / ASSIGNMENT
    nb = json.loads((source / f"{ASSIGNMENT}.ipynb").read_text())
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        flat = tmp / "flat"
        flat.mkdir()
        course = tmp / "nbgrader"
        shutil.copytree(source, course / "source" / ASSIGNMENT)
        (course / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n"
            "c.Execute.timeout = 600\n")
        run([str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT, "--force"], course)
        for i in range(N_STUDENTS):
            sid = f"s{i:02d}"
            text = json.dumps(make_submission(nb, rng, p_stub=0.0 if i == 0 else 0.25))
            (flat / f"{sid}.ipynb").write_text(text)
            sub = course / "submitted" / sid / ASSIGNMENT
            sub.mkdir(parents=True)
            (sub / f"{ASSIGNMENT}.ipynb").write_text(text)

        t_nbgrader, _ = run([str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--create"],
                            course)
        t_ours, out = run([str(BIN / "autograder"), "grade", "ps01", str(flat),
                           "--course-dir", str(tmp / "ours"), "--quiet"], ROOT)
        workers = re.search(r"on (\d+) worker", out).group(1)
        ours = {}
        for line in (tmp / "ours" / ASSIGNMENT / "grades.csv").read_text().splitlines()[1:]:
            cells = line.split(",")
            ours[cells[0]] = float(cells[-6])  # auto_total
        theirs = nbgrader_scores(course)
        agree = all(abs(ours[s] - theirs.get(s, -1)) < 1e-9 for s in ours)
        ref = json.loads((tmp / "ours" / ASSIGNMENT / "reference.json").read_text()) \
            if (tmp / "ours" / ASSIGNMENT / "reference.json").exists() else None

    print(f"BLAS threads: 1 per process on both sides; {N_STUDENTS} submissions; nbgrader "
          f"one at a time, ours on {workers} workers ({os.cpu_count()} cores)")
    print(f"nbgrader autograde : {t_nbgrader:6.1f} s ({t_nbgrader / N_STUDENTS:.2f} s each)")
    print(f"autograder grade   : {t_ours:6.1f} s ({t_ours / N_STUDENTS:.2f} s each, "
          f"reference run and gradebook set-up included)")
    print(f"speed-up           : {t_nbgrader / t_ours:.1f}x")
    print(f"scores agree       : {agree}  (ours {sorted(ours.values())})")
    if not agree:
        print(f"  ours   : {ours}\n  nbgrader: {theirs}")
    if ref:
        ref_cpu = ref["cpu_cells"] + sum(ref["cpu_parts"].values())
        per_sub = np.median(list(ref["wall_seconds"].values()))
        print(f"reference answer   : {ref_cpu:.2f} s CPU (cells + probes); a submission's "
              f"sandboxed run: {per_sub:.2f} s median wall, overhead "
              f"{per_sub - ref_cpu:+.2f} s")


if __name__ == "__main__":
    main()
