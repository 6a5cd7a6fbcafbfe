"""Helpers shared by the benchmarks."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# One BLAS thread, this environment's commands first on PATH, no display: the settings
# the notebook-running benchmarks compare under.
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OPENBLAS_NUM_THREADS="1",
           OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
# Runs a JSON list of code cells top to bottom in one fresh process, as "Run all" does
# (an error ends that cell only).
RUN_CELLS = """
import json, sys
ns = {"__name__": "__main__", "display": print}
for cell in json.load(open(sys.argv[1])):
    try:
        exec(cell, ns)
    except BaseException:
        pass
"""
# autograder's command line, for ``python -c`` with another checkout on PYTHONPATH:
AUTOGRADER_CLI = "import sys; from autograder.cli import main; sys.exit(main())"


def best_of(fn, repeat=5):
    """The shortest of ``repeat`` wall-clock timings of ``fn()``, in seconds: the run
    least disturbed by the rest of the machine."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@contextlib.contextmanager
def checkout_of(commit):
    """This repository at ``commit``, as a temporary git worktree (removed afterwards), to
    measure an older version side by side with this one; None if the commit is not in
    this clone's history."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / commit
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach",
                               str(folder), commit], capture_output=True, text=True)
        if made.returncode != 0:
            yield None
            return
        try:
            yield folder
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(folder)], capture_output=True)


@contextlib.contextmanager
def autograder_of(root):
    """Import ``autograder`` from the checkout at ``root`` inside the block (its modules
    are forgotten before and after, so another version can be imported next)."""
    def forget():
        for name in [m for m in sys.modules if m == "autograder" or m.startswith("autograder.")]:
            del sys.modules[name]
    forget()
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        forget()
