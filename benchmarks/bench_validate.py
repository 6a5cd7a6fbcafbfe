"""`autograder validate` against the notebook's own run time, for every problem set.

The notebook's own run: all its code cells, the test cells (which run the visible cases)
included, top to bottom in one fresh Python process, as a student's "Run all" does
(without Jupyter's kernel start-up). validate runs the same code and the same visible
cases in the grader's way; what it costs beyond that is the overhead, which should stay
under 3 s (issue 13). "before" is the grader and sets of commit BEFORE (ahead of issue
13's changes), in a temporary git worktree, measured in the same run. Also printed: the code cells
alone (without the test cells); beyond those, validate also pays for the visible cases,
which is a training run in the sets whose last part trains a network (ps01, ps03).
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import AUTOGRADER_CLI, ENV, RUN_CELLS, autograder_of, checkout_of

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "816bce9"  # main before issue 13's branches were merged


def timed(command, cwd, env=ENV):
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, done


def measure(root, tmp, label):
    """Print one line per set and notebook (solution, stub) for the version at ``root``."""
    env = dict(ENV, PYTHONPATH=str(root))  # that version's autograder package
    with autograder_of(root):
        from autograder.course import assignment
        from autograder.course.notebooks import code_to_run, read_notebook

        for folder in sorted((root / "solutions").glob("ps*")):
            a = assignment.load(folder.name, root / "solutions")
            work = Path(tmp) / label / a.name
            shutil.copytree(root / "exercises" / a.name, work)
            for which, source in (("solution", a.notebook),
                                  ("stub", root / "exercises" / a.name / a.notebook.name)):
                path = work / f"{which}.ipynb"
                shutil.copy(source, path)
                nb = read_notebook(path)
                everything = [c["source"] if isinstance(c["source"], str) else
                              "".join(c["source"]) for c in nb["cells"]
                              if c.get("cell_type") == "code"]
                cells = [getattr(c, "source", c) for c in code_to_run(nb, a.test_sources)]
                times = []
                for name, listed in (("cells", cells), ("all", everything)):
                    listing = work / f"{which}-{name}.json"
                    listing.write_text(json.dumps(listed))
                    times.append(timed([sys.executable, "-c", RUN_CELLS, str(listing)],
                                       work, env)[0])
                wall, done = timed([sys.executable, "-c", AUTOGRADER_CLI, "validate",
                                    path.name], work, env)
                print(f"{label:7} {a.name:22} {which:8} {times[0]:6.2f}s {times[1]:7.2f}s "
                      f"{wall:8.2f}s {wall - times[1]:+8.2f}s"
                      f"{'' if done.returncode in (0, 1) else '  (validate failed)'}",
                      flush=True)


def main():
    print(f"{'version':7} {'set':22} {'notebook':8} {'cells':>7} {'run all':>8} "
          f"{'validate':>9} {'overhead':>9}   (before = {BEFORE}, after = this checkout)")
    with tempfile.TemporaryDirectory() as tmp, checkout_of(BEFORE) as before:
        if before is None:
            print(f"(commit {BEFORE} is not in this clone's history: after only)")
        else:
            measure(before, tmp, "before")
        measure(ROOT, tmp, "after")


if __name__ == "__main__":
    main()
