"""Run untrusted notebook code in a separate, unprivileged, resource-limited process.

The sandbox is Bubblewrap (Debian's ``bubblewrap``): a fresh mount namespace with the
Python environment bound read-only, one private scratch folder (the only thing it can
write, and the only submission it can see), no network, its own process namespace (so
nothing it starts outlives it) and a size-capped /tmp. Run as root, the grader drops the
sandboxed process to an unprivileged uid with no account, one per worker slot (so the
process-count limit of one sandbox never blocks another), with ``setpriv``; run as an
ordinary user, Bubblewrap maps it to ``nobody`` in a user namespace. Rlimits (set by
``prlimit``, not in a ``preexec_fn``, which is unsafe in a threaded grader) bound CPU time,
memory, file size and process count per process; the grader also adds up the CPU time of
the sandbox's whole process tree and kills the tree when it runs over its budget (so a fork
storm costs only its own budget), and a limit on the time it spends neither running nor
waiting for a CPU catches what sleeps. No limit counts wall-clock time (except a last
backstop far above any of them), so how busy the machine is changes no grade.

Nothing the sandboxed process reports is evidence: the caller reads back only arrays.
"""

import atexit
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from autograder.errors import GraderError
from autograder.run.in_sandbox import busy_seconds  # the sandbox's runner measures it the same way

RUNNER = Path(__file__).with_name("in_sandbox.py")
NOBODY = 65534
# Run as root, each sandbox slot of each grader process runs as its own uid with no
# account and no files anywhere, so nothing outside the sandbox is its to read or write,
# and the process-count limit (counted per uid across the machine) of one sandbox never
# blocks another, even one of another grader run on the same machine.
SLOT_UID_BASE = 1_900_000_000
SLOTS_PER_PROCESS = 64


def slot_uid(slot, pid=None):
    """The uid of ``slot`` in the grader process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    return SLOT_UID_BASE + (pid % 1_000_000) * SLOTS_PER_PROCESS + slot % SLOTS_PER_PROCESS
WORKDIR = "/sandbox"  # where the scratch folder appears inside the sandbox


@dataclass
class Limits:
    """Resource limits of one sandboxed run. CPU limits are in seconds of CPU time.

    Each cell has its own CPU limit (``cell_seconds``), so a cell that loops forever
    costs that cell, not the cells after it; once ``full_timeouts`` cells have used up
    theirs, every later cell gets ``grace_seconds`` (defining functions takes
    microseconds), which bounds what a notebook of endless loops costs. Time spent
    sleeping or blocked (not running, not waiting for a CPU) is limited separately; no
    limit counts wall-clock time, so a busy machine changes no outcome.
    """

    cell_seconds: float = 60.0  # each cell
    part_seconds: dict = field(default_factory=dict)  # grade_id -> CPU seconds per part
    full_timeouts: int = 3
    grace_seconds: float = 1.0
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    tmp_bytes: int = 64 * 1024**2
    processes: int = 64  # per uid: threads count too; NumPy here uses one BLAS thread
    output_chars: int = 20_000  # how much of stdout/stderr is kept

    def cells_cpu(self, n_cells):
        """The most CPU time ``n_cells`` cells may use: ``full_timeouts`` cells running
        to their limit, every other cell to its grace, and one more cell limit for the
        real work of the cells that finish."""
        grace = min(self.cell_seconds, self.grace_seconds)
        return (self.full_timeouts + 1) * self.cell_seconds + n_cells * grace

    def process_cpu(self, n_cells):
        """RLIMIT_CPU of every process: the cells run in the main process, each part in
        a child that lowers the limit to its own share."""
        return int(max([self.cells_cpu(n_cells), *self.part_seconds.values()])) + 5

    def tree_cpu(self, n_cells):
        """CPU budget of the whole process tree: everything the run may legitimately use
        (a part's child may run to its limit rounded up, plus a second)."""
        parts = sum(math.ceil(s) + 1 for s in self.part_seconds.values())
        return self.cells_cpu(n_cells) + parts + 5

    def idle_seconds(self):
        """How long the whole run may sleep or block: each part's child is stopped by the
        runner after its part's seconds + 5 of it; the cells get 15 s or a cell's limit."""
        return max(15, self.cell_seconds) + sum(s + 5 for s in self.part_seconds.values())

    def wall_seconds(self, n_cells):
        """Last backstop on the wall clock, for a kernel that reports no scheduler
        statistics: far above what any load makes of the CPU budget."""
        return 10 * self.tree_cpu(n_cells) + self.idle_seconds() + 60


@dataclass
class RunResult:
    """What came back from one run. Only ``outputs`` feeds a grade."""

    outputs: dict  # (grade_id, case) -> {name: ndarray}, for outputs that loaded cleanly
    log: list  # events the runner wrote (untrusted; used for messages only)
    exit_status: str  # "ok", "killed by SIGKILL", "wall-clock limit", ...
    cpu_seconds: float
    wall_seconds: float
    output: str  # head of stdout+stderr
    sandbox: str  # "bubblewrap (root, setpriv)", "bubblewrap (user namespace)", "none"
    refused: str = ""  # why some outputs were not read (too large), else ""


@cache
def sandbox_mode():
    """Which isolation this machine offers: 'bwrap-root', 'bwrap-user' or 'none'."""
    if shutil.which("bwrap") is None:
        return "none"
    mode = "bwrap-root" if os.geteuid() == 0 else "bwrap-user"
    try:
        probe = subprocess.run(
            [*_bwrap_prefix(mode, Path(tempfile.gettempdir()), 1024**2), "true"],
            capture_output=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    return mode if probe.returncode == 0 else "none"


SANDBOX_NAMES = {
    "bwrap-root": "bubblewrap (root drops to a per-worker uid with setpriv)",
    "bwrap-user": "bubblewrap (user namespace, uid nobody)",
    "none": "NONE (--no-sandbox): untrusted code ran unconfined, as the grader's user",
}
NO_SANDBOX = ("no sandbox: bubblewrap (Debian's bubblewrap) is not installed or cannot run "
              "here, so nothing was graded; install it, or pass --no-sandbox to run "
              "submissions unconfined as your own user (not for credit)")


class SandboxUnavailableError(GraderError):
    """Grading in the sandbox was asked for, and this machine has none."""


def confinement(sandbox_name):
    """The mode a result was graded under, as grades.csv says it: 'bubblewrap', 'none',
    or '' when no code ran (no notebook, a corrupt file)."""
    if not sandbox_name:
        return ""
    return "bubblewrap" if sandbox_name.startswith("bubblewrap") else "none"


def require_sandbox():
    """Raise SandboxUnavailableError, one line, unless Bubblewrap works on this machine."""
    if sandbox_mode() == "none":
        raise SandboxUnavailableError(NO_SANDBOX)


def _ancestors(path):
    """'/a/b/c' -> ['/a', '/a/b'] (the folders above path, top first)."""
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _readonly_paths():
    """The Python environment the sandbox needs, bound read-only at the same paths."""
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return sorted(p for p in paths if not str(p).startswith("/usr"))


def _bwrap_prefix(mode, scratch, tmp_limit, env=None, uid=NOBODY):
    """The bwrap command line up to the program to run. ``--clearenv`` empties the
    environment inside the sandbox, so ``env`` is set there again with ``--setenv``."""
    # /tmp comes first: binds below may lie under /tmp (a checkout in /tmp/...), and a
    # later tmpfs would hide them.
    args = ["bwrap", "--size", str(tmp_limit), "--perms", "1777", "--tmpfs", "/tmp",
            "--ro-bind", "/usr", "/usr"]
    for link in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{link}"):
            args += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            args += ["--ro-bind", f"/{link}", f"/{link}"]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/alternatives"):
        if os.path.exists(f):
            args += ["--ro-bind", f, f]
    made = set()
    for path in _readonly_paths():
        for folder in _ancestors(path):
            if folder not in made:
                args += ["--perms", "0755", "--dir", folder]
                made.add(folder)
        args += ["--ro-bind", str(path), str(path)]
    args += [
        "--bind", str(scratch), WORKDIR,
        "--proc", "/proc", "--dev", "/dev",
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--chdir", WORKDIR, "--clearenv",
    ]
    for name, value in (env or {}).items():
        args += ["--setenv", name, value]
    if mode == "bwrap-user":
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--"]
    else:
        args += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return args


def _environment(home):
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": home,
        "PYTHONPATH": f"{home}/lib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.mpl",  # holds a copy of the prepared font cache
        "NBGRADER_EXECUTION": "autograde",
        # One BLAS thread per sandbox: workers run side by side, one per core.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


@cache
def _matplotlib_font_cache():
    """A folder with matplotlib's font cache, built once per grader process (trusted
    code only), or None. Each sandbox gets a copy: building it takes about 0.5 s of the
    student's CPU time in every run that plots."""
    folder = Path(tempfile.mkdtemp(prefix="autograder-mpl-"))
    atexit.register(shutil.rmtree, folder, True)
    try:
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                       env={"MPLCONFIGDIR": str(folder), "PATH": os.environ.get("PATH", "")},
                       capture_output=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return folder if any(folder.iterdir()) else None


def _prlimit_prefix(limits, n_cells):
    """``prlimit`` sets the rlimits, then runs the sandbox, which inherits them; before it,
    ``setpriv`` asks for SIGKILL should the grader die, so no sandbox outlives it, and
    ``choom`` makes the sandbox the kernel's first choice should memory run out."""
    cpu = limits.process_cpu(n_cells)
    return ["setpriv", "--pdeathsig", "KILL", "choom", "-n", "1000", "--",
            "prlimit", f"--cpu={cpu}:{cpu + 1}", f"--as={limits.memory_bytes}",
            f"--fsize={limits.file_bytes}", "--core=0", f"--nproc={limits.processes}", "--"]


def _read_head(stream, keep, sink):
    """Keep the first ``keep`` characters of a stream and drain the rest unread."""
    kept = 0
    while chunk := stream.read(65536):
        if kept < keep:
            sink.append(chunk[: keep - kept].decode("utf-8", "replace"))
            kept += len(chunk)


def _array_bytes(member):
    """Bytes an .npy member of an .npz will take once loaded, from its header alone;
    raises ValueError for anything but a plain numeric array."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError("object arrays are not data")
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _load_outputs(out_dir, expected, max_bytes):
    """Load the arrays the run wrote: plain numeric .npz only, never pickle, and never
    more than ``max_bytes`` in all once decompressed (an .npz is a zip file: a small file
    can claim gigabytes, and this runs in the grader's own process)."""
    outputs, total = {}, 0
    for grade_id, case in expected:
        path = out_dir / f"{grade_id}__{case}.npz"
        if not path.is_file() or path.is_symlink():
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    with archive.open(info) as member:
                        total += _array_bytes(member)
            if total > max_bytes:
                return outputs, (f"the outputs came to more than {max_bytes // 1024**2} MB; "
                                 f"{grade_id} and the outputs after it were not read")
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: np.array(data[name]) for name in data.files}
        except Exception:  # noqa: BLE001 - a corrupt file is a missing answer
            continue
        outputs[(grade_id, case)] = arrays
    return outputs, ""


def _read_log(path, max_events=1000):
    events = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if len(events) >= max_events:
                    break
                try:
                    event = json.loads(line[:10_000])
                except ValueError:
                    continue
                if isinstance(event, dict):
                    events.append(event)
    except OSError:
        pass
    return events


# Process groups of the sandboxes running now, so an interrupted batch can end them all.
_RUNNING = set()
_RUNNING_LOCK = threading.Lock()


def kill_all_running():
    """Kill every sandbox still running (an interrupted batch)."""
    with _RUNNING_LOCK:
        groups = list(_RUNNING)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def run_job(cells, parts, inputs, probes_file, limits, packages=(), sandboxed=True, slot=0,
            numbers=None):
    """Execute ``cells`` then each part's probe on its inputs, in a fresh sandbox.

    Inputs:
        cells: list of code-cell sources, run in order in one namespace.
        numbers: each cell's number as Jupyter shows it (``In [20]``); default 1, 2, ...
        parts: list of {"grade_id", "probe", "cases": [case, ...]}.
        inputs: {(grade_id, case): {name: ndarray}} given to the probe as keyword args.
        probes_file: the set's (trusted) probes.py.
        limits: :class:`Limits`.
        packages: (package_name, source_folder, [file, ...]) copied into the sandbox's
            import path, e.g. the parts of the course library a problem set may use.
        sandboxed: False runs without Bubblewrap: the trusted reference answer, a
            student's own ``validate``, or grading the instructor asked to run unconfined
            (``--no-sandbox``). True on a machine without a sandbox raises
            SandboxUnavailableError: untrusted code never runs unconfined by default.
        slot: the worker slot running this job (0, 1, ...); run as root, it picks the uid
            (see slot_uid).

    Returns: :class:`RunResult`.
    """
    if sandboxed:
        require_sandbox()
    mode = sandbox_mode() if sandboxed else "none"
    uid = slot_uid(slot) if mode == "bwrap-root" else NOBODY
    with tempfile.TemporaryDirectory(prefix="autograder-") as tmp:
        scratch = Path(tmp) / "job"
        (scratch / "inputs").mkdir(parents=True)
        (scratch / "out").mkdir()
        shutil.copy(RUNNER, scratch / "runner.py")
        shutil.copy(probes_file, scratch / "probes.py")
        for name, source, files in packages:
            target = scratch / "lib" / name
            target.mkdir(parents=True, exist_ok=True)
            for f in files:  # may name subpackages' files: "layers/__init__.py"
                (target / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(Path(source) / f, target / f)
        job = {
            "cells": cells,
            "numbers": list(numbers) if numbers else list(range(1, len(cells) + 1)),
            "limits": {"cell_seconds": limits.cell_seconds,
                       "full_timeouts": limits.full_timeouts,
                       "grace_seconds": limits.grace_seconds},
            "parts": [dict(p, seconds=limits.part_seconds.get(p["grade_id"], 10.0))
                      for p in parts],
        }
        (scratch / "job.json").write_text(json.dumps(job))
        for (grade_id, case), arrays in inputs.items():
            np.savez(scratch / "inputs" / f"{grade_id}__{case}.npz", **arrays)
        # Trusted runs (the reference, a student's own validate) use matplotlib's own
        # cache, as Jupyter does: building a private one costs about 1 s every time.
        fonts = _matplotlib_font_cache() if sandboxed else None
        if fonts:
            shutil.copytree(fonts, scratch / ".mpl")

        if mode == "none":
            home = str(scratch)
            command = [sys.executable, "runner.py"]
            cwd = scratch
        else:
            home = WORKDIR
            command = [*_bwrap_prefix(mode, scratch, limits.tmp_bytes, _environment(home),
                                      uid), sys.executable, "runner.py"]
            cwd = None
        if os.geteuid() == 0:
            os.chmod(tmp, 0o711)
            for path in [scratch, *scratch.rglob("*")]:
                os.chown(path, uid, uid)
        env = _environment(home)
        if not sandboxed:
            env.pop("MPLCONFIGDIR")
            env["HOME"] = os.environ.get("HOME", home)
        if mode == "none" and sandboxed:
            env["PYTHONPATH"] = str(scratch / "lib")

        t0 = time.monotonic()
        proc = subprocess.Popen(
            [*_prlimit_prefix(limits, len(cells)), *command], cwd=cwd, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with _RUNNING_LOCK:
            _RUNNING.add(proc.pid)
        head = []
        reader = threading.Thread(target=_read_head, args=(proc.stdout, limits.output_chars,
                                                           head), daemon=True)
        reader.start()
        try:
            status, usage, exit_status, tree_cpu = _wait(proc, limits, len(cells),
                                                          scratch / "log.jsonl")
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc.pid)
        proc.returncode = 0
        reader.join(timeout=5)
        wall = time.monotonic() - t0
        if exit_status == "ok":
            exit_status = _describe(status)
        expected = [(p["grade_id"], c) for p in parts for c in p["cases"]]
        outputs, refused = _load_outputs(scratch / "out", expected, limits.file_bytes)
        return RunResult(
            outputs=outputs,
            log=_read_log(scratch / "log.jsonl"),
            exit_status=exit_status,
            cpu_seconds=max(usage.ru_utime + usage.ru_stime, tree_cpu),
            wall_seconds=wall,
            output="".join(head),
            sandbox=SANDBOX_NAMES[mode],
            refused=refused,
        )


def _proc_table():
    """{pid: (ppid, CPU seconds incl. reaped children, resident bytes)} of every process."""
    table = {}
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on
        utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
        table[int(entry.name)] = (int(fields[1]), (utime + stime + cutime + cstime) / tick,
                                  int(fields[21]) * page)
    return table


def _tree(root, table):
    """``root`` and every process below it in ``table``."""
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def tree_usage(root):
    """(CPU seconds, resident bytes) of ``root`` and every process below it.

    CPU time counts reaped children too. Orphans inside the sandbox are re-parented to
    its PID namespace's init, which is below ``root``, so a double fork does not escape.
    """
    table = _proc_table()
    pids = _tree(root, table)
    return sum(table[p][1] for p in pids), sum(table[p][2] for p in pids)


class IdleClock:
    """Time the sandbox's processes spent neither running nor ready to run: sleeping,
    blocked on I/O, waiting for each other. Unlike wall-clock time it does not grow
    when the machine is busy, so a limit on it stops a sleeper without ever stopping
    work that is merely slowed down. Where the kernel keeps no scheduler statistics it
    counts time without CPU progress instead (which a busy machine does inflate)."""

    def __init__(self):
        self.idle = 0.0
        self._last = time.monotonic()
        self._busy = {}  # pid -> busy seconds when last seen

    def update(self, pids, table):
        now = time.monotonic()
        busy, seen = 0.0, {}
        for pid in pids:
            value = busy_seconds(pid)
            if value is None:  # no schedstat: CPU time is the best there is
                value = table[pid][1]
            seen[pid] = value
            busy += max(0.0, value - self._busy.get(pid, 0.0))
        self.idle += max(0.0, (now - self._last) - busy)
        self._last, self._busy = now, seen
        return self.idle


class CellWatch:
    """Notices a cell that runs on past its CPU limit because it ignored the runner's
    interrupt, so the run is stopped then rather than at the end of the whole budget.

    It reads the runner's log, which the submission can forge; that can only make the
    run stop sooner (its own loss), or later, never later than the tree's CPU budget.
    """

    SLACK = 3.0  # CPU seconds past the cell's limit: the runner's own overhead

    def __init__(self, path, cell_seconds):
        self.path, self.cell_seconds = Path(path), cell_seconds
        self.offset, self.pending = 0, b""
        self.started_at, self.seconds = None, 0.0  # tree CPU when the cell started

    def _events(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(1024**2)
        except OSError:
            return
        self.offset += len(chunk)
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        self.pending = self.pending[-65536:]
        for line in lines:
            try:
                event = json.loads(line[:10_000])
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event

    def over(self, cpu):
        """True when the current cell has used more than its limit (plus slack), ``cpu``
        being the tree's CPU seconds now."""
        for event in self._events():
            if event.get("event") == "cell-start":
                seconds = event.get("seconds")
                seconds = seconds if isinstance(seconds, int | float) else self.cell_seconds
                self.started_at, self.seconds = cpu, min(seconds, self.cell_seconds)
            elif event.get("event") == "cells-done":
                self.started_at = None
        return self.started_at is not None and cpu - self.started_at > self.seconds + self.SLACK


def _wait(proc, limits, n_cells, log_path=None, poll=0.05, check_every=0.2):
    """Wait for the sandbox; kill its whole tree when the tree's CPU time runs over
    ``limits.tree_cpu()``, a cell runs past its own limit (see CellWatch), its resident
    memory over ``limits.memory_bytes``, its idle time (see IdleClock) over
    ``limits.idle_seconds()``, or, as a last backstop, the wall clock over
    ``limits.wall_seconds()``.

    Returns (wait status, rusage, "ok" | "CPU budget" | "cell limit" | "memory budget" |
    "idle limit" | "wall-clock limit", the tree's CPU seconds when last measured).
    """
    start = time.monotonic()
    cpu = 0.0
    idle = IdleClock()
    cell = CellWatch(log_path, limits.cell_seconds) if log_path else None
    next_check = start + check_every
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return status, usage, "ok", cpu
        now = time.monotonic()
        over = None
        if now - start > limits.wall_seconds(n_cells):
            over = "wall-clock limit"
        elif now >= next_check:
            next_check = now + check_every
            table = _proc_table()
            pids = _tree(proc.pid, table)
            cpu = sum(table[p][1] for p in pids)
            rss = sum(table[p][2] for p in pids)
            if cpu > limits.tree_cpu(n_cells):
                over = "CPU budget"
            elif cell is not None and cell.over(cpu):
                over = "cell limit"
            elif rss > limits.memory_bytes:
                over = "memory budget"
            elif idle.update(pids, table) > limits.idle_seconds():
                over = "idle limit"
        if over:
            _kill_tree(proc)
            _, status, usage = os.wait4(proc.pid, 0)
            return status, usage, over, cpu
        time.sleep(poll)


def _kill_tree(proc):
    # The sandbox is its own session and PID namespace: killing its group (and bwrap's
    # namespace init with it) ends everything it started.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _describe(status):
    """Exit status of the sandbox as words: 'ok', 'exit code 3', 'killed by SIGKILL'."""
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    code = os.WEXITSTATUS(status)
    if code == 0:
        return "ok"
    # bwrap reports a child killed by signal N as exit code 128 + N.
    if code > 128 and code - 128 in signal.valid_signals():
        return f"killed by {signal.Signals(code - 128).name}"
    return f"exit code {code}"
