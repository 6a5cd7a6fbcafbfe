"""Helpers shared by the grader tests: run the CLI, read CSVs, execute notebooks."""

import csv
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
