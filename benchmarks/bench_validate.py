"""`autograder validate` against the notebook's own run time, for every problem set.

The notebook's own run: all its code cells, the test cells (which run the visible cases)
included, top to bottom in one fresh Python process, as a student's "Run all" does
(without Jupyter's kernel start-up). validate runs the same code and the same visible
cases in the grader's way; what it costs beyond that is the overhead, which should stay
under 3 s (issue 13). Before the fix it was 3.4 to 5.7 s per set, 4 s of it importing
nbgrader and building a private matplotlib font cache. Also printed: the code cells
alone (without the test cells); beyond those, validate also pays for the visible cases,
which is a training run in the sets whose last part trains a network (ps01, ps03).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OPENBLAS_NUM_THREADS="1",
           OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
RUN_CELLS = """
import json, sys
ns = {"__name__": "__main__", "display": print}
for cell in json.load(open(sys.argv[1])):
    try:
        exec(cell, ns)
    except BaseException:
        pass
"""


def timed(command, cwd):
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    return time.perf_counter() - t0, done


def main():
    sys.path.insert(0, str(ROOT))
    from autograder import assignment
    from autograder.notebooks import code_to_run, read_notebook

    print(f"{'set':22} {'notebook':8} {'cells':>7} {'run all':>8} {'validate':>9} "
          f"{'overhead':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for folder in sorted((ROOT / "solutions").glob("ps*")):
            a = assignment.load(folder.name, ROOT / "solutions")
            work = Path(tmp) / a.name
            shutil.copytree(ROOT / "exercises" / a.name, work)
            for which, source in (("solution", a.notebook),
                                  ("stub", ROOT / "exercises" / a.name / a.notebook.name)):
                path = work / f"{which}.ipynb"
                shutil.copy(source, path)
                nb = read_notebook(path)
                everything = [c["source"] if isinstance(c["source"], str) else
                              "".join(c["source"]) for c in nb["cells"]
                              if c.get("cell_type") == "code"]
                times = []
                for name, cells in (("cells", code_to_run(nb, a.test_sources)),
                                    ("all", everything)):
                    listing = work / f"{which}-{name}.json"
                    listing.write_text(json.dumps(cells))
                    times.append(timed([sys.executable, "-c", RUN_CELLS, str(listing)],
                                       work)[0])
                wall, done = timed([str(BIN / "autograder"), "validate", path.name], work)
                print(f"{a.name:22} {which:8} {times[0]:6.2f}s {times[1]:7.2f}s "
                      f"{wall:8.2f}s {wall - times[1]:+8.2f}s"
                      f"{'' if done.returncode in (0, 1) else '  (validate failed)'}",
                      flush=True)


if __name__ == "__main__":
    main()
