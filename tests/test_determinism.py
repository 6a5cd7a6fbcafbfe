"""The same notebook and checks give the same grade in every run: sequential or parallel,
on an idle or a busy machine. A cell that loops forever costs that cell (and the parts
that need it), never the cells after it; no limit depends on how busy the machine is."""

import contextlib
import os
import shutil
import subprocess
import sys
import time

from grading_helpers import FIXTURES, read_csv, run_cli

from autograder.run.sandbox import IdleClock, Limits, _proc_table, run_job

# Written by hand from what the two notebooks do (tests/fixtures/README.md):
# looping_helper's helper never returns; an ungraded cell calls it at top level before
# relu_forward is defined, and relu_backward uses it. The forward (2) and the numeric
# answer (1) are unaffected; only the backward (3) is lost.
EXPECTED = {
    "looping_helper": {"relu-forward": "2", "relu-backward": "0", "mean-answer": "1",
                       "auto_total": "3", "status": "timeout"},
    "perfect": {"relu-forward": "2", "relu-backward": "3", "mean-answer": "1",
                "auto_total": "6", "status": "ok"},
}


@contextlib.contextmanager
def busy_machine(n=None):
    """Processes spinning on every core beside the grader, ended by their pids."""
    n = n or len(os.sched_getaffinity(0))
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def grade_rows(submissions, course, *options):
    done = run_cli("grade", "fx01", submissions, "--course-root", FIXTURES / "course",
                   "--course-dir", course, "--quiet", *options)
    assert done.returncode == 0, done.stderr
    rows = {r["student_id"]: r for r in read_csv(course / "fx01_tiny/grades.csv")}
    return {sid: {k: rows[sid][k] for k in want} for sid, want in EXPECTED.items()}, done


def test_a_looping_helper_costs_only_its_part_in_every_run(tmp_path):
    submissions = tmp_path / "submitted"
    for sid in EXPECTED:
        shutil.copytree(FIXTURES / "submitted" / sid, submissions / sid)
    course = tmp_path / "course"
    runs = [grade_rows(submissions, course, "--workers", "1")]
    with busy_machine():  # --force: the reference answer is measured again, under load
        runs += [grade_rows(submissions, course, "--workers", "2", "--force"),
                 grade_rows(submissions, course, "--workers", "1", "--force")]
    for rows, _ in runs:
        assert rows == EXPECTED
    line = next(x for x in runs[-1][1].stdout.splitlines() if x.startswith("looping_helper:"))
    assert "cell [2]" in line and "the cells after it still ran" in line, line


PROBES = '''
import numpy as np
def value(ns):
    return {"v": np.float64(ns["f"]())}
'''


def test_after_the_full_timeouts_later_cells_still_run_with_a_grace(tmp_path):
    """Two endless cells: the first runs to its limit, the second (past full_timeouts)
    to the grace; the function defined after both is still there for the probe."""
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    cells = ["while True:\n    pass", "while True:\n    pass", "def f():\n    return 7.0"]
    limits = Limits(cell_seconds=1.0, full_timeouts=1, grace_seconds=0.3,
                    part_seconds={"p": 2})
    run = run_job(cells, [{"grade_id": "p", "probe": "value", "cases": ["0"]}],
                  {("p", "0"): {}}, probes, limits, numbers=[3, 5, 8])
    timeouts = [(e["cell"], e["seconds"]) for e in run.log if e["event"] == "cell-timeout"]
    assert timeouts == [(0, 1.0), (1, 0.3)]
    assert run.outputs[("p", "0")]["v"] == 7.0
    assert run.exit_status == "ok"


def test_the_idle_limit_does_not_grow_on_a_busy_machine():
    """Three processes sharing one core each get a third of it: wall-clock time minus CPU
    time grows by two thirds of the wall clock, but their idle time (neither running nor
    waiting for a CPU) stays near zero; a sleeping process's idle time is its wall time."""
    spin = [subprocess.Popen([sys.executable, "-c", "import os; os.sched_setaffinity(0, {0})\n"
                              "while True: pass"]) for _ in range(3)]
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.5)  # let them settle on their core
        clocks = {p.pid: IdleClock() for p in [*spin, sleeper]}
        start_cpu = {pid: _proc_table()[pid][1] for pid in clocks}
        start = time.monotonic()
        for _ in range(10):
            time.sleep(0.2)
            table = _proc_table()
            idle = {pid: clock.update([pid], table) for pid, clock in clocks.items()}
        wall = time.monotonic() - start
        cpu = {pid: table[pid][1] - start_cpu[pid] for pid in clocks}
    finally:
        for p in [*spin, sleeper]:
            p.kill()
            p.wait()
    for p in spin:
        assert wall - cpu[p.pid] > 0.4 * wall  # the wall clock says "waiting" ...
        assert idle[p.pid] < 0.15 * wall  # ... the idle clock says "working"
    assert idle[sleeper.pid] > 0.8 * wall


def test_a_sleeping_part_costs_only_that_part(tmp_path):
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES + "\ndef sleepy(ns):\n    import time\n    time.sleep(600)\n")
    limits = Limits(cell_seconds=2, part_seconds={"s": 0.5, "p": 1})
    run = run_job(["def f():\n    return 2.0"],
                  [{"grade_id": "s", "probe": "sleepy", "cases": ["0"]},
                   {"grade_id": "p", "probe": "value", "cases": ["0"]}],
                  {("s", "0"): {}, ("p", "0"): {}}, probes, limits)
    assert {"event": "part-killed", "grade_id": "s", "signal": "wall-clock"} in run.log
    assert run.outputs[("p", "0")]["v"] == 2.0 and run.exit_status == "ok"

