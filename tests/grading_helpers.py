"""Helpers shared by the grader tests: run the CLI, read CSVs, execute notebooks."""

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))


def run_cli(*args, cwd=None):
    """Run the autograder command as a user would; return the CompletedProcess."""
    return subprocess.run([AUTOGRADER, *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def leave_derivation_unanswered(path, dest=None):
    """Write the notebook at ``path`` (to ``dest``, or in place) with its hand-graded
    derivation back as released ("YOUR ANSWER HERE"), so it scores 0 by itself and the
    student's total is final without hand grading. Returns the notebook's bytes."""
    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "relu-derivation":
            cell["source"] = "Derive the gradient of ReLU.\n\nYOUR ANSWER HERE"
    data = json.dumps(nb).encode()
    Path(dest or path).parent.mkdir(parents=True, exist_ok=True)
    Path(dest or path).write_bytes(data)
    return data


def write_review_sheet(path, scores, grade_id="relu-derivation", points="2"):
    """A filled-in review.csv: ``scores`` is [(student_id, score)]."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "grade_id", "max_points", "score", "answer"])
        for sid, score in scores:
            w.writerow([sid, grade_id, points, score, "..."])


def copy_course(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def visible_test_points(notebook_path, timeout=600):
    """Execute a notebook in a real Jupyter kernel, as a student would, and add up the
    points of the test cells that ran without an error."""
    nb = nbformat.read(notebook_path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(Path(notebook_path).parent)}}).execute()
    total = 0.0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        is_test = cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")
        failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if is_test and not failed:
            total += meta.get("points", 0)
    return total


def solution_and_check_lines():
    """Lines of every problem set's solution cells and checks.py that the student's
    release does not contain: what must never reach a reader or a student."""
    # Lines the public course library already holds (e.g. `rng =
    # np.random.default_rng(seed)`) give nothing away wherever they appear.
    library = {re.sub(r"\s+", " ", ln.strip()) for path in (ROOT / "dlcourse").rglob("*.py")
               for ln in path.read_text().splitlines()}
    found = []
    for folder in sorted((ROOT / "solutions").glob("ps*")):
        nb = json.loads(next(folder.glob("*.ipynb")).read_text())
        release = ROOT / "exercises" / folder.name / f"{folder.name}.ipynb"
        public = re.sub(r"\s+", " ", " ".join(
            "".join(c["source"]) for c in json.loads(release.read_text())["cells"]))
        for cell in nb["cells"]:
            text = "".join(cell["source"])
            # Code lines from 25 characters; prose (a derivation) from 50, so that a
            # common phrase such as "the sum of the gradients" is not taken for a leak.
            shortest = 25 if cell["cell_type"] == "code" else 50
            for block in re.findall(r"### BEGIN SOLUTION(.*?)### END SOLUTION", text, re.S):
                found += [(folder.name, re.sub(r"\s+", " ", ln.strip()))
                          for ln in block.splitlines() if len(ln.strip()) >= shortest]
        checks = (folder / "checks.py").read_text()
        found += [(folder.name, ln.strip()) for ln in checks.splitlines()
                  if ln.strip().startswith("def ")]
        found = [(ps, ln) for ps, ln in found if ps != folder.name or ln not in public]
    return [(ps, ln) for ps, ln in found if ln not in library]


def solution_namespace(folder):
    """The namespace of a solution notebook's answer cells and given cells (imports,
    data, helpers), run in order: no test, check or demo cell."""
    nb = json.loads((ROOT / "solutions" / folder / f"{folder}.ipynb").read_text())
    ns = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        given = meta.get("locked") and not meta.get("grade")
        if cell["cell_type"] == "code" and (meta.get("solution") or given):
            exec("".join(cell["source"]), ns)
    return ns


def _as_received(outputs):
    """A probe's outputs as the grader receives them from the sandbox: arrays."""
    import numpy as np

    return {name: np.asarray(value) for name, value in outputs.items()}


def judge_in_process(problem_set, grade_id, ns, reference, seed):
    """(points, message) that the functions in ``ns`` earn for one part on the hidden
    cases of ``seed``, judged as the grader judges them: the probes get the inputs the
    sandbox gets and return arrays, but run in this process, on ``ns`` and on the
    ``reference`` namespace."""
    from autograder.course import assignment as assignments
    from autograder.run.grading import case_inputs, judge_part, sandbox_inputs

    a = assignments.load(problem_set, ROOT / "solutions")
    probes = a.load_probes()
    part = next(p for p in a.parts if p.grade_id == grade_id)
    inputs = case_inputs(a, seed)
    sent = sandbox_inputs(a, inputs)
    probe = getattr(probes, part.probe)
    cases = [c for g, c in inputs if g == grade_id]
    expected, outputs = {}, {}
    for c in cases:
        key = (grade_id, c)
        expected[key] = _as_received(probe(reference, **sent[key]))
        try:
            outputs[key] = _as_received(probe(ns, **sent[key]))
        except Exception:  # noqa: BLE001 - a wrong answer may fail in any way
            outputs[key] = None
    return judge_part(part, cases, outputs, expected, inputs, probes, {})
