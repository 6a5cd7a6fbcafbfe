"""`autograder grade` vs plain `nbgrader autograde` on the same 40 ps01 submissions.

nbgrader autograde runs one notebook at a time in one process (its gradebook allows
no other way); ours runs its default, one worker per core, twice: with the warm sandbox
template (each run a fork of an interpreter that has imported the libraries once; the
default as root) and without it (AUTOGRADER_TEMPLATE=0: each run starts its own
interpreter in bubblewrap). BLAS is pinned to one thread per process on all sides. The
submissions are the solution with a random subset of its answer cells reset to the
release stub (students who finished some parts), so all three should agree on every
score. Prints the wall-time ratios, whether the scores agree, and our per-submission CPU
time beyond the notebook's own work (the reference answer's CPU time): in the sandbox
alone, and for the whole command (the grader's own work and the reference run included).
"""

import csv
import json
import os
import re
import resource
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


def run(command, cwd, env=ENV):
    """(wall seconds, stdout, CPU seconds of the command and everything it started)."""
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return time.perf_counter() - t0, done.stdout, cpu


def our_run(flat, course_dir, template):
    """Grade the class with our grader; (wall, CPU, workers, scores, sandbox CPU per
    submission, reference CPU)."""
    env = dict(ENV, AUTOGRADER_TEMPLATE="1" if template else "0")
    wall, out, cpu = run([str(BIN / "autograder"), "grade", "ps01", str(flat),
                          "--course-dir", str(course_dir), "--quiet"], ROOT, env)
    workers = re.search(r"on (\d+) worker", out).group(1)
    folder = course_dir / ASSIGNMENT
    with open(folder / "grades.csv", newline="") as f:
        scores = {row["student_id"]: float(row["auto_total"]) for row in csv.DictReader(f)}
    sandbox_cpu = [json.loads(f.read_text())["result"]["cpu_seconds"]
                   for f in sorted((folder / "results").glob("*.json"))]
    ref = json.loads((folder / "reference.json").read_text())
    ref_cpu = ref["cpu_cells"] + sum(ref["cpu_parts"].values())
    return wall, cpu, workers, scores, sandbox_cpu, ref_cpu


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

        t_nbgrader, _, cpu_nbgrader = run(
            [str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--create"], course)
        theirs = nbgrader_scores(course)
        ours = {name: our_run(flat, tmp / name, template)
                for name, template in (("template", True), ("bubblewrap", False))}

    _, _, workers, _, _, ref_cpu = ours["template"]
    print(f"BLAS threads: 1 per process on all sides; {N_STUDENTS} submissions; nbgrader "
          f"one at a time, ours on {workers} workers ({os.cpu_count()} cores)")
    print(f"nbgrader autograde          : {t_nbgrader:6.1f} s wall ({t_nbgrader / N_STUDENTS:.2f}"
          f" s each), {cpu_nbgrader:6.1f} s CPU")
    for name, label in (("template", "ours, warm template (default)"),
                        ("bubblewrap", "ours, AUTOGRADER_TEMPLATE=0 ")):
        wall, cpu, _, scores, sandbox_cpu, _ = ours[name]
        if name == "bubblewrap":
            # bwrap does not wait for its namespace's init, so the sandboxes' CPU time
            # never reaches our rusage; the grader's /proc readings of each tree stand in
            cpu += sum(sandbox_cpu)
        agree = all(abs(scores[s] - theirs.get(s, -1)) < 1e-9 for s in scores) and \
            len(scores) == len(theirs) == N_STUDENTS
        print(f"{label}: {wall:6.1f} s wall ({wall / N_STUDENTS:.2f} s each), {cpu:6.1f} s CPU;"
              f" speed-up {t_nbgrader / wall:.1f}x; scores agree with nbgrader: {agree}")
        print(f"    CPU per submission: {np.median(sandbox_cpu):.2f} s in its sandbox (median),"
              f" {cpu / N_STUDENTS:.2f} s for the whole command (reference run, template and"
              f" grader's own work included); beyond the notebook's own work (the reference "
              f"answer's cells + probes in a fresh interpreter, imports included: "
              f"{ref_cpu:.2f} s): {np.median(sandbox_cpu) - ref_cpu:+.2f} s and "
              f"{cpu / N_STUDENTS - ref_cpu:+.2f} s")
        if not agree:
            print(f"    ours    : {scores}\n    nbgrader: {theirs}")
    print(f"scores (template): {sorted(ours['template'][3].values())}")


def cpu_of(command, repeat=5, env=ENV):
    """Median CPU seconds (user + system) of running ``command`` to its end."""
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, env=env, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return float(np.median(times))


def breakdown():
    """Where a sandboxed run's fixed CPU cost goes (``--breakdown``): the interpreter's
    start, each library a ps01 notebook imports (cumulative), Bubblewrap itself, and one
    empty run through each path (cells ``pass``, one trivial probe)."""
    from autograder.run import sandbox

    py = str(BIN / "python")
    steps = [("interpreter start (python -c pass)", "pass"),
             ("+ numpy", "import numpy"),
             ("+ IPython InteractiveShell", "import numpy, IPython.core.interactiveshell"),
             ("+ matplotlib.pyplot (Agg)", "import numpy, IPython.core.interactiveshell, "
              "matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot"),
             ("+ sklearn (dlcourse.data's imports)", "import numpy, "
              "IPython.core.interactiveshell, matplotlib; matplotlib.use('Agg'); "
              "import matplotlib.pyplot, sklearn.datasets, sklearn.model_selection")]
    print("CPU seconds (median of 5, user + system):")
    for label, code in steps:
        print(f"  {label:40s}: {cpu_of([py, '-c', code]):.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        bwrap = sandbox._bwrap_prefix(sandbox.sandbox_mode(), Path(tmp), 1024**2,
                                      sandbox._environment(sandbox.WORKDIR),
                                      sandbox.slot_uid(0))
        print(f"  {'bwrap + setpriv running /bin/true':40s}: "
              f"{cpu_of([*bwrap, '/bin/true']):.3f}")
        probes = Path(tmp) / "probes.py"
        probes.write_text("def value(ns):\n    return {'v': ns['v']}\n")
        for label, switch in (("one empty run, warm template", "1"),
                              ("one empty run, bubblewrap", "0")):
            os.environ[sandbox.TEMPLATE_SWITCH] = switch
            cpu = []
            for _ in range(5):
                run = sandbox.run_job(["v = 1.0"], [{"grade_id": "p", "probe": "value",
                                                     "cases": ["0"]}], {("p", "0"): {}},
                                      probes, sandbox.Limits(part_seconds={"p": 5}))
                cpu.append(run.cpu_seconds)
            print(f"  {label:40s}: {np.median(cpu):.3f} ({run.sandbox[:40]}...)")


if __name__ == "__main__":
    breakdown() if "--breakdown" in sys.argv else main()
