"""The warm template path (autograder/run/template.py): each run is a fork of one trusted
interpreter, in a fresh sandbox of its own. What one run does must reach neither the
template nor the next run, on the same slot or beside it; grades are those of the
Bubblewrap path; without the template the grader falls back to Bubblewrap, once said.
"""

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import FIXTURES, read_csv, run_cli

from autograder.run import sandbox
from autograder.run.sandbox import SANDBOX_NAMES, Limits, run_job, slot_uid

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or sandbox.sandbox_mode() != "bwrap-root",
    reason="the template is used only when the grader runs as root with Bubblewrap")

PROBES = '''
import numpy as np
def report(ns):
    return {k: np.asarray(v) for k, v in ns["report"].items()}
'''
TEMPLATE_NAME = SANDBOX_NAMES["template"]

# The first run leaves everything it can behind: files in /tmp, in its scratch folder and
# in the home folder, a changed NumPy (a module attribute and a replaced function), a new
# module, a changed builtin, the random state moved on.
LEAVE_TRACES = '''
import builtins, os, sys, types
import numpy as np
for path in ("/tmp/left-behind", "/sandbox/left-behind", os.path.expanduser("~/.left")):
    with open(path, "w") as f:
        f.write("x")
np.left_behind = True
np.sum = lambda *a, **k: 42
sys.modules["left_behind"] = types.ModuleType("left_behind")
builtins.left_behind = True
report = {"wrote": all(os.path.exists(p) for p in ("/tmp/left-behind", "/sandbox/left-behind")),
          "patched": np.sum([1, 2]) == 42}
'''
LOOK_FOR_TRACES = '''
import builtins, os, sys
import numpy as np
report = {"tmp": os.path.exists("/tmp/left-behind"),
          "scratch": os.path.exists("/sandbox/left-behind"),
          "home": os.path.exists(os.path.expanduser("~/.left")),
          "numpy_attribute": hasattr(np, "left_behind"),
          "numpy_sum": int(np.sum([1, 2])),
          "module": "left_behind" in sys.modules,
          "builtin": hasattr(builtins, "left_behind")}
'''


def run(tmp_path, cell, slot=0, inputs=None, seconds=10):
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    result = run_job([cell], [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                     {("r", "0"): inputs or {}}, probes,
                     Limits(cell_seconds=seconds, part_seconds={"r": 5}), slot=slot)
    assert result.sandbox == TEMPLATE_NAME, result.sandbox
    outputs = result.outputs.get(("r", "0"))
    assert outputs is not None, (result.exit_status, result.output, result.log)
    return {k: v.item() for k, v in outputs.items()}


def template():
    return sandbox._template_state["template"]


def test_nothing_a_run_leaves_behind_reaches_the_next_run_on_its_slot(tmp_path):
    assert run(tmp_path, LEAVE_TRACES, slot=3) == {"wrote": True, "patched": True}
    assert run(tmp_path, LOOK_FOR_TRACES, slot=3) == {
        "tmp": False, "scratch": False, "home": False, "numpy_attribute": False,
        "numpy_sum": 3, "module": False, "builtin": False}


def test_each_run_has_its_own_random_state(tmp_path):
    """As a fresh interpreter does: NumPy's global generator and ``random`` are seeded
    from the OS in every run, not inherited from the template."""
    cell = ("import random\nimport numpy as np\n"
            "report = {'np': np.random.rand(), 'py': random.random()}")
    first, second = run(tmp_path, cell), run(tmp_path, cell)
    assert first["np"] != second["np"] and first["py"] != second["py"]


ATTACK_THE_TEMPLATE = '''
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
def attempt(action):
    try:
        action()
        return True
    except OSError:
        return False
def read_memory(pid):
    with open(f"/proc/{pid}/maps") as maps:
        start = int(maps.readline().split("-")[0], 16)
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(start)
        return mem.read(16)
report = {
    "ppid": os.getppid(),
    "pids": ",".join(sorted(p for p in os.listdir("/proc") if p.isdigit())),
    "fds": ",".join(sorted(os.listdir("/proc/self/fd"))),
    "read_parent_memory": attempt(lambda: read_memory(os.getppid())),
    "ptrace_parent": libc.ptrace(16, os.getppid(), None, None) == 0,  # PTRACE_ATTACH
    "signal_parent": attempt(lambda: os.kill(os.getppid(), signal.SIGTERM)),
    "template_visible": os.path.exists("/proc/TEMPLATE_PID"),
}
for target in (os.getppid(), 1, -1):
    attempt(lambda: os.kill(target, signal.SIGKILL))
'''


def test_a_run_cannot_signal_ptrace_or_read_its_parents_or_see_the_template(tmp_path):
    run(tmp_path, "report = {'ok': 1}")  # the template is running
    before = template().proc.pid
    cell = ATTACK_THE_TEMPLATE.replace("TEMPLATE_PID", str(before))
    report = run(tmp_path, cell)
    # PID 1 of its own namespace is its parent; /proc holds the namespace's processes
    # only (the listing's own ls is not a process: Python reads /proc in-process)
    assert report["ppid"] == 1 and report["pids"] == "1,2"
    assert report["fds"] in ("0,1,2", "0,1,2,3")  # 3: the listing's own descriptor
    assert report["read_parent_memory"] is False
    assert report["ptrace_parent"] is False and report["signal_parent"] is False
    assert report["template_visible"] is False
    # the template is the same process, still serving
    assert template().proc.pid == before and template().alive()
    assert run(tmp_path, "report = {'ok': 1}") == {"ok": 1}


def test_the_templates_memory_holds_no_input_of_any_run(tmp_path):
    """The inputs reach the run as files in its scratch folder; the template never reads
    them, so nothing of one student's run (or of the secret cases) is in the memory the
    next run inherits."""
    marker = b"SECRET-CASE-" + os.urandom(12).hex().encode()
    inputs = {"x": np.frombuffer(marker, dtype=np.uint8)}
    cell = "report = {'ok': 1}"
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES.replace('ns["report"]', 'dict(ns["report"], n=len(x))')
                      .replace("def report(ns)", "def report(ns, x)"))
    result = run_job([cell], [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                     {("r", "0"): inputs}, probes, Limits(cell_seconds=10,
                                                          part_seconds={"r": 5}))
    assert result.sandbox == TEMPLATE_NAME
    assert result.outputs[("r", "0")]["n"] == len(marker)  # the run did get it
    memory = _memory_of(template().proc.pid)
    assert marker not in memory
    assert str(sandbox.TEMPLATE).encode() in memory  # the search itself finds things


def _memory_of(pid):
    """Every readable private or file-backed mapping of ``pid`` (root may read it)."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            start, end = (int(v, 16) for v in fields[0].split("-"))
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, OverflowError, ValueError):
                continue
    return b"".join(chunks)


NEIGHBOUR = '''
import os, time
with open("/sandbox/neighbour-was-here", "w") as f:
    f.write("x")
with open("/tmp/neighbour-was-here", "w") as f:
    f.write("x")
open("/sandbox/started", "w").close()
time.sleep(4)
report = {"ok": 1}
'''
SNOOP = '''
import os, sys
found = []
read_only = {"/usr", sys.prefix, sys.base_prefix}  # the environment, bound read-only
for folder, dirs, files in os.walk("/"):
    if folder in read_only or (folder.startswith("/proc/") and folder.count("/") > 2):
        dirs[:] = []
    if "neighbour-was-here" in files:
        found.append(folder)
uids = set()
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            uids.add(os.stat(f"/proc/{p}").st_uid)
        except OSError:
            pass
report = {"found": len(found), "processes": len([p for p in os.listdir("/proc")
                                                  if p.isdigit()]),
          "other_uids": len(uids - {0, os.getuid()})}
'''


def test_runs_side_by_side_cannot_see_each_others_processes_or_files(tmp_path):
    results = {}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    def neighbour():
        results["neighbour"] = run(tmp_path / "a", NEIGHBOUR, slot=5)

    thread = threading.Thread(target=neighbour)
    thread.start()
    try:
        # the neighbour is running (its scratch file exists) while the snoop looks
        deadline = threading.Event()
        for _ in range(200):
            if list(Path("/tmp").glob("autograder-*/job/started")):
                break
            deadline.wait(0.05)
        results["snoop"] = run(tmp_path / "b", SNOOP, slot=6)
    finally:
        thread.join()
    assert results["neighbour"] == {"ok": 1}
    assert results["snoop"] == {"found": 0, "processes": 2, "other_uids": 0}
    assert slot_uid(5) != slot_uid(6)


def test_without_the_template_the_runs_use_bubblewrap(tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.TEMPLATE_SWITCH, "0")
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    result = run_job(["report = {'ok': 1}"], [{"grade_id": "r", "probe": "report",
                                               "cases": ["0"]}],
                     {("r", "0"): {}}, probes, Limits(cell_seconds=10, part_seconds={"r": 5}))
    assert result.sandbox == SANDBOX_NAMES["bwrap-root"]
    assert result.outputs[("r", "0")]["ok"] == 1


def test_a_template_that_cannot_start_falls_back_to_bubblewrap_and_says_so_once(
        tmp_path, monkeypatch, capsys):
    broken = tmp_path / "template.py"
    broken.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(sandbox, "TEMPLATE", broken)
    monkeypatch.setattr(sandbox, "_template_state", {"template": None, "failed": False})
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    for _ in range(2):
        result = run_job(["report = {'ok': 1}"],
                         [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                         {("r", "0"): {}}, probes,
                         Limits(cell_seconds=10, part_seconds={"r": 5}))
        assert result.sandbox == SANDBOX_NAMES["bwrap-root"]
        assert result.outputs[("r", "0")]["ok"] == 1
    said = capsys.readouterr().err
    assert said.count("warm sandbox template could not start") == 1, said


CLASS = ("perfect", "wrong_gradient", "killed_kernel", "calls_exit", "ipython_magics")


def test_grades_are_the_same_with_and_without_the_template(tmp_path, monkeypatch):
    submitted = tmp_path / "submitted"
    for sid in CLASS:
        shutil.copytree(FIXTURES / "submitted" / sid, submitted / sid)
    rows, names = {}, {}
    for switch in ("1", "0"):
        monkeypatch.setenv(sandbox.TEMPLATE_SWITCH, switch)
        course = tmp_path / f"course-{switch}"
        done = run_cli("grade", "fx01", submitted, "--course-root", FIXTURES / "course",
                       "--course-dir", course, "--quiet")
        assert done.returncode == 0, done.stderr
        rows[switch] = read_csv(course / "fx01_tiny" / "grades.csv")
        names[switch] = {name for f in (course / "fx01_tiny" / "results").glob("*.json")
                         for name in SANDBOX_NAMES.values() if name in f.read_text()}
    assert rows["1"] == rows["0"]
    totals = {r["student_id"]: r["auto_total"] for r in rows["1"]}
    # by hand, from tests/fixtures/README.md
    assert totals == {"perfect": "6", "wrong_gradient": "3", "killed_kernel": "0",
                      "calls_exit": "6", "ipython_magics": "6"}
    assert names == {"1": {TEMPLATE_NAME}, "0": {SANDBOX_NAMES["bwrap-root"]}}
