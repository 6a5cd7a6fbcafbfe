"""The sandbox itself: what untrusted code can see, write and use."""

import os
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import FIXTURES, ROOT

from autograder.run.sandbox import SLOT_UID_BASE, Limits, run_job, sandbox_mode, slot_uid

PROBES = '''
import numpy as np
def report(ns):
    return {k: np.asarray(v) for k, v in ns["report"].items()}
'''

SNOOP = '''
import os, socket
targets = {TARGETS}
report = {{f"seen{{i}}": os.path.exists(p) for i, p in enumerate(targets)}}
report["uid"] = os.getuid()
def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False
report["write_venv"] = can_write({VENV!r} + "/pwned")
report["write_scratch"] = can_write("mine.txt")
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1)
    report["network"] = True
except OSError:
    report["network"] = False
'''


@pytest.fixture(scope="module")
def snoop(tmp_path_factory):
    assert sandbox_mode() != "none", "bubblewrap must be installed (make test installs it)"
    probes = tmp_path_factory.mktemp("probes") / "probes.py"
    probes.write_text(PROBES)
    targets = [str(ROOT / "solutions"), str(FIXTURES / "course/solutions/fx01_tiny/checks.py"),
               str(FIXTURES / "submitted/perfect"), str(ROOT / "course"), "/etc/shadow",
               str(tmp_path_factory.getbasetemp())]
    import sys

    cell = SNOOP.format(TARGETS=targets, VENV=sys.prefix)
    run = run_job([cell], [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                  {("r", "0"): {}}, probes, Limits(cell_seconds=10, part_seconds={"r": 5}))
    assert run.exit_status == "ok", run.output
    return {k: v.item() for k, v in run.outputs[("r", "0")].items()}, len(targets)


def test_cannot_see_solutions_other_submissions_or_the_gradebook(snoop):
    report, n = snoop
    assert [report[f"seen{i}"] for i in range(n)] == [False] * n


def test_runs_unprivileged_with_a_private_writable_scratch_only(snoop):
    """As root, slot 0 runs as its own uid with no account; otherwise as nobody."""
    report, _ = snoop
    assert report["uid"] == (slot_uid(0) if os.geteuid() == 0 else 65534)
    assert report["uid"] >= SLOT_UID_BASE or os.geteuid() != 0
    assert report["write_scratch"] is True
    assert report["write_venv"] is False
    assert not os.path.exists(os.path.join(os.sys.prefix, "pwned"))


def test_has_no_network(snoop):
    report, _ = snoop
    assert report["network"] is False


def test_output_flood_is_capped_and_memory_bomb_is_contained(tmp_path):
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    cells = ["big = bytearray(8 * 1024**3)",  # over the memory limit: MemoryError
             "import numpy as np\nreport = {'ok': np.float64(1.0)}",
             "while True:\n    print('x' * 10000)"]  # stopped by the CPU limit
    run = run_job(cells, [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                  {("r", "0"): {}}, probes, Limits(cell_seconds=2, part_seconds={"r": 2}))
    assert len(run.output) <= Limits().output_chars
    assert run.outputs[("r", "0")]["ok"] == np.float64(1.0)
    errors = [e["error"] for e in run.log if e["event"] == "cell-error"]
    assert any(e["event"] == "cell-timeout" and e["cell"] == 2 for e in run.log)
    assert any("MemoryError" in e for e in errors)


def test_environment_and_only_the_allowed_library_files_reach_the_sandbox(tmp_path):
    import importlib.util

    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    library = Path(importlib.util.find_spec("dlcourse").submodule_search_locations[0])
    cell = ("import os, importlib.util\n"
            "report = {'blas': os.environ.get('OPENBLAS_NUM_THREADS') == '1',\n"
            "          'mpl': os.environ.get('MPLBACKEND') == 'Agg',\n"
            "          'data': importlib.util.find_spec('dlcourse.data') is not None,\n"
            "          'layers': importlib.util.find_spec('dlcourse.layers') is not None}")
    run = run_job([cell], [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                  {("r", "0"): {}}, probes, Limits(cell_seconds=10, part_seconds={"r": 5}),
                  packages=[("dlcourse", library, ["__init__.py", "data.py"])])
    report = {k: v.item() for k, v in run.outputs[("r", "0")].items()}
    assert report == {"blas": True, "mpl": True, "data": True, "layers": False}


def test_a_python_environment_under_tmp_stays_visible(monkeypatch, tmp_path):
    """A checkout in /tmp (as CI may use) must not be hidden by the sandbox's own /tmp."""
    from autograder.run import sandbox

    venv = Path("/tmp/some-checkout/.venv")
    monkeypatch.setattr(sandbox, "_readonly_paths", lambda: [venv])
    args = sandbox._bwrap_prefix("bwrap-root", tmp_path, 1024**2)
    tmpfs_at = args.index("--tmpfs")
    bind_at = args.index(str(venv))
    assert args[tmpfs_at + 1] == "/tmp" and tmpfs_at < bind_at


def test_a_set_can_offer_earlier_layers_without_its_own_answers(tmp_path):
    import importlib.util

    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    library = Path(importlib.util.find_spec("dlcourse").submodule_search_locations[0])
    cell = ("def can(name):\n"
            "    try:\n"
            "        exec(f'from dlcourse.layers import {name}', {})\n"
            "        return True\n"
            "    except ImportError:\n"
            "        return False\n"
            "report = {'fc': can('affine_forward'), 'pool': can('max_pool_forward_naive')}")
    run = run_job([cell], [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                  {("r", "0"): {}}, probes, Limits(cell_seconds=10, part_seconds={"r": 5}),
                  packages=[("dlcourse", library,
                             ["__init__.py", "layers/__init__.py", "layers/fc.py"])])
    report = {k: v.item() for k, v in run.outputs[("r", "0")].items()}
    assert report == {"fc": True, "pool": False}


def test_printed_output_is_not_kept_in_memory(tmp_path):
    """2.5 GB printed in 10 MB lines (IPython 9 would keep a copy of each for its history,
    past the 2 GB memory limit); the cells after it still run."""
    probes = tmp_path / "probes.py"
    probes.write_text(PROBES)
    cells = ["for _ in range(250):\n    print('x' * 10_000_000)",
             "import numpy as np\nreport = {'ok': np.float64(1.0)}"]
    run = run_job(cells, [{"grade_id": "r", "probe": "report", "cases": ["0"]}],
                  {("r", "0"): {}}, probes, Limits(cell_seconds=20, part_seconds={"r": 2}))
    assert [e for e in run.log if e["event"] in ("cell-error", "cell-timeout")] == []
    assert run.exit_status == "ok" and run.outputs[("r", "0")]["ok"] == 1.0
