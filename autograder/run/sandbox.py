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

Run as root, a run does not start its own interpreter: a warm template process
(template.py, one per grader process, started at the first sandboxed run) that has
imported NumPy, IPython, matplotlib and scikit-learn once forks for each run, and the fork
builds the same confinement itself (the same file system view, from _mount_plan; the same
namespaces, uid, rlimits, watchdog) before any of the submission is loaded. That saves
each run the interpreter's start and imports (about 2 s of CPU time for a ps01 notebook).
``AUTOGRADER_TEMPLATE=0`` turns it off; without root, or if the template cannot start
(said once on stderr), every run starts its own interpreter in Bubblewrap as before.

Nothing the sandboxed process reports is evidence: the caller reads back only arrays.
"""

import atexit
import contextlib
import json
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
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
    # The same confinement, built by the warm template's fork instead of bwrap (see
    # template.py); grades.csv says "bubblewrap" for both (see confinement).
    "template": "bubblewrap-equivalent namespaces, forked from a warm interpreter (root "
                "drops to a per-worker uid)",
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


def _mount_plan(scratch, tmp_limit):
    """The sandbox's file system view, as steps: ("tmpfs", size, mode, dest),
    ("ro" | "rw", source, dest), ("symlink", target, dest), ("dir", mode, dest),
    ("proc", dest), ("dev", dest). Bubblewrap performs them from its command line (see
    _bwrap_prefix), the template's fork performs the same steps itself (template.py)."""
    # /tmp comes first: binds below may lie under /tmp (a checkout in /tmp/...), and a
    # later tmpfs would hide them.
    plan = [("tmpfs", int(tmp_limit), 0o1777, "/tmp"), ("ro", "/usr", "/usr")]
    for link in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{link}"):
            plan.append(("symlink", os.readlink(f"/{link}"), f"/{link}"))
        elif os.path.isdir(f"/{link}"):
            plan.append(("ro", f"/{link}", f"/{link}"))
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/alternatives"):
        if os.path.exists(f):
            plan.append(("ro", f, f))
    made = set()
    for path in _readonly_paths():
        for folder in _ancestors(path):
            if folder not in made:
                plan.append(("dir", 0o755, folder))
                made.add(folder)
        plan.append(("ro", str(path), str(path)))
    plan += [("rw", str(scratch), WORKDIR), ("proc", "/proc"), ("dev", "/dev")]
    return plan


def _bwrap_prefix(mode, scratch, tmp_limit, env=None, uid=NOBODY):
    """The bwrap command line up to the program to run. ``--clearenv`` empties the
    environment inside the sandbox, so ``env`` is set there again with ``--setenv``."""
    args = ["bwrap"]
    for step in _mount_plan(scratch, tmp_limit):
        kind, dest = step[0], step[-1]
        if kind == "tmpfs":
            args += ["--size", str(step[1]), "--perms", f"{step[2]:o}", "--tmpfs", dest]
        elif kind == "dir":
            args += ["--perms", f"{step[1]:04o}", "--dir", dest]
        else:
            option = {"ro": "--ro-bind", "rw": "--bind", "symlink": "--symlink",
                      "proc": "--proc", "dev": "--dev"}[kind]
            args += [option, *step[1:-1], dest]
    args += [
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



# ---------------------------------------------------------------------------------------
# The warm template (template.py): one per grader process, started at the first sandboxed
# run as root, used unless AUTOGRADER_TEMPLATE=0. Bubblewrap stays the fallback.

TEMPLATE = Path(__file__).with_name("template.py")
# What the template imports once (trusted libraries of the course's environment, never
# the course library, which each job gets as files): whatever a notebook imports of
# these costs it nothing. A module that is not installed is skipped.
WARM_MODULES = ("numpy", "IPython.core.interactiveshell", "traitlets.config", "matplotlib",
                "matplotlib.pyplot", "matplotlib_inline.backend_inline", "sklearn.datasets",
                "sklearn.model_selection", "scipy.signal")
# Without the current folder on the path (-P would do it, but would also show in sys.flags
# of every run, unlike a script's interpreter).
_START_TEMPLATE = ("import sys, runpy; del sys.path[0], sys.argv[0]; "
                   "runpy.run_path(sys.argv[0], run_name='__main__')")
TEMPLATE_SWITCH = "AUTOGRADER_TEMPLATE"  # "0": every run starts its own interpreter in bwrap
_template_lock = threading.Lock()
_template_state = {"template": None, "failed": False}


def template_wanted():
    """True unless the environment turns the warm template off (AUTOGRADER_TEMPLATE=0)."""
    return os.environ.get(TEMPLATE_SWITCH, "1").strip() not in ("0", "off", "no", "false")


class TemplateError(OSError):
    """The template could not start or answer; the run falls back to Bubblewrap."""


class _Template:
    """The grader's side of the template process: starts it, sends it requests."""

    def __init__(self):
        self.home = Path(tempfile.mkdtemp(prefix="autograder-template-"))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = _environment(str(self.home))
        del env["PYTHONPATH"]  # the job's own path is set in the fork, never the template's
        fonts = _matplotlib_font_cache()
        env["MPLCONFIGDIR"] = str(fonts or self.home)
        self.log = open(self.home / "template.log", "wb")  # noqa: SIM115 - kept while it runs
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _START_TEMPLATE, str(TEMPLATE), str(theirs.fileno()),
                 *WARM_MODULES],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=self.log, env=env, cwd="/", start_new_session=True)
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        if not select.select([ours], [], [], 300)[0]:
            self.close()
            raise TemplateError("it did not start within 300 s")
        reply = ours.recv(1 << 16)
        answer = json.loads(reply) if reply else {"error": self._log_tail()}
        if "ready" not in answer:
            self.close()
            raise TemplateError(answer.get("error", "no answer"))
        self.warmed = answer["ready"]
        atexit.register(self.close)

    def _log_tail(self):
        try:
            return (self.home / "template.log").read_text(errors="replace")[-500:].strip()
        except OSError:
            return "it exited"

    def alive(self):
        return self.proc.poll() is None

    def start(self, request):
        """Send one job; return its _TemplateRun (the fork has started when this returns)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        read_end, write_end = os.pipe()
        try:
            with self.lock:
                socket.send_fds(self.sock, [json.dumps(request).encode()],
                                [theirs.fileno(), write_end])
        except OSError as exc:
            mine.close()
            os.close(read_end)
            raise TemplateError(f"the template is gone ({exc})") from exc
        finally:
            theirs.close()
            os.close(write_end)
        run = _TemplateRun(mine, os.fdopen(read_end, "rb"))
        reply = run.receive(timeout=60)
        if not reply or "pid" not in reply:
            run.close()
            raise TemplateError("the template did not start the run")
        run.pid = reply["pid"]
        return run

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()  # the template kills its runs and exits when this closes
        if self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


class _TemplateRun:
    """One run forked by the template: its pid (A, the tree's root), output pipe, and the
    socket on which its end (status and rusage from the template's wait4) arrives."""

    def __init__(self, sock, stdout):
        self.sock, self.stdout, self.pid = sock, stdout, None
        self.ended = None  # (wait status, rusage) once known

    def receive(self, timeout):
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        return json.loads(data) if data else {}

    def poll(self, timeout=0.0):
        """(status, rusage) if the run has ended, else None (after up to ``timeout``)."""
        if self.ended is None:
            reply = self.receive(timeout)
            if reply is not None:
                self.ended = _ending(reply)
        return self.ended

    def wait(self):
        while self.poll(timeout=1.0) is None:
            pass
        return self.ended

    def kill(self):
        with contextlib.suppress(OSError):
            self.sock.send(b'{"kill": true}')

    def trusted(self, table):
        """The tree's processes that are the template's (A and B, root, holding a copy of
        its memory): not counted against the run's memory budget."""
        return {self.pid} | {pid for pid, (ppid, _, _) in table.items() if ppid == self.pid}

    def close(self):
        self.sock.close()
        self.stdout.close()


def _ending(reply):
    """(wait status, rusage) from the template's report; a template that died with the run
    reports nothing: its runs were killed with it."""
    if "status" not in reply:
        return signal.SIGKILL, types.SimpleNamespace(ru_utime=0.0, ru_stime=0.0)
    return reply["status"], types.SimpleNamespace(ru_utime=reply["utime"],
                                                  ru_stime=reply["stime"])


def _template():
    """This process's template, started now if need be; None when it cannot be used
    (turned off, not root, or it failed to start: said once, on stderr)."""
    if not template_wanted() or sandbox_mode() != "bwrap-root":
        return None
    with _template_lock:
        current = _template_state["template"]
        if current is not None and current.alive():
            return current
        if _template_state["failed"]:
            return None
        try:
            current = _Template()
        except (OSError, ValueError) as exc:
            _template_state["failed"] = True
            print(f"autograder: the warm sandbox template could not start ({exc}); each "
                  "submission starts its own interpreter in bubblewrap", file=sys.stderr)
            return None
        _template_state["template"] = current
        return current


def _template_request(scratch, uid, limits, n_cells, env):
    cpu = limits.process_cpu(n_cells)
    return {"plan": _mount_plan(scratch, limits.tmp_bytes), "uid": uid, "env": env,
            "workdir": WORKDIR, "runner": "runner.py",
            "rlimits": {"cpu": cpu, "as": limits.memory_bytes, "fsize": limits.file_bytes,
                        "nproc": limits.processes}}


class _Popened:
    """A sandbox started with Popen (bwrap): the same interface as _TemplateRun."""

    def __init__(self, proc):
        self.proc, self.pid = proc, proc.pid
        self.ended = None

    def poll(self, timeout=0.0):
        if self.ended is None:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.ended = status, usage
            else:
                time.sleep(timeout)
        return self.ended

    def wait(self):
        if self.ended is None:
            _, status, usage = os.wait4(self.pid, 0)
            self.ended = status, usage
        return self.ended

    def kill(self):
        _kill_tree(self.proc)

    def trusted(self, table):
        return set()


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


# The sandboxes running now (_Popened or _TemplateRun), so an interrupted batch can end
# them all.
_RUNNING = set()
_RUNNING_LOCK = threading.Lock()


def kill_all_running():
    """Kill every sandbox still running (an interrupted batch)."""
    with _RUNNING_LOCK:
        runs = list(_RUNNING)
    for run in runs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            run.kill()


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
        run, used = None, mode
        template = _template() if mode == "bwrap-root" else None
        if template is not None:
            try:
                run = template.start(_template_request(scratch, uid, limits, len(cells),
                                                       _environment(home)))
                used = "template"
            except TemplateError:
                run = None  # this run goes through bwrap; the next starts a new template
        if run is None:
            proc = subprocess.Popen(
                [*_prlimit_prefix(limits, len(cells)), *command], cwd=cwd, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            run = _Popened(proc)
            stdout = proc.stdout
        else:
            stdout = run.stdout
        with _RUNNING_LOCK:
            _RUNNING.add(run)
        head = []
        reader = threading.Thread(target=_read_head, args=(stdout, limits.output_chars,
                                                           head), daemon=True)
        reader.start()
        try:
            status, usage, exit_status, tree_cpu = _wait(run, limits, len(cells),
                                                          scratch / "log.jsonl")
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(run)
        if isinstance(run, _Popened):
            run.proc.returncode = 0
        reader.join(timeout=5)
        if isinstance(run, _TemplateRun):
            run.close()
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
            sandbox=SANDBOX_NAMES[used],
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
    """Wait for the sandbox (a Popen, or a _Popened / _TemplateRun); kill its whole tree
    when the tree's CPU time runs over ``limits.tree_cpu()``, a cell runs past its own
    limit (see CellWatch), its resident memory over ``limits.memory_bytes``, its idle time
    (see IdleClock) over ``limits.idle_seconds()``, or, as a last backstop, the wall clock
    over ``limits.wall_seconds()``. The template's own processes at the top of the tree
    (see _TemplateRun.trusted) count for CPU and idle time, not for memory: each holds a
    copy of the template's pages, which the run did not ask for.

    Returns (wait status, rusage, "ok" | "CPU budget" | "cell limit" | "memory budget" |
    "idle limit" | "wall-clock limit", the tree's CPU seconds when last measured).
    """
    run = proc if hasattr(proc, "trusted") else _Popened(proc)
    start = time.monotonic()
    cpu = 0.0
    idle = IdleClock()
    cell = CellWatch(log_path, limits.cell_seconds) if log_path else None
    next_check = start + check_every
    while True:
        ended = run.poll()
        if ended:
            return (*ended, "ok", cpu)
        now = time.monotonic()
        over = None
        if now - start > limits.wall_seconds(n_cells):
            over = "wall-clock limit"
        elif now >= next_check:
            next_check = now + check_every
            table = _proc_table()
            pids = _tree(run.pid, table)
            cpu = sum(table[p][1] for p in pids)
            trusted = run.trusted(table)
            rss = sum(table[p][2] for p in pids if p not in trusted)
            if cpu > limits.tree_cpu(n_cells):
                over = "CPU budget"
            elif cell is not None and cell.over(cpu):
                over = "cell limit"
            elif rss > limits.memory_bytes:
                over = "memory budget"
            elif idle.update(pids, table) > limits.idle_seconds():
                over = "idle limit"
        if over:
            run.kill()
            status, usage = run.wait()
            return status, usage, over, cpu
        run.poll(poll)  # waits up to ``poll`` (returns at once when the run ends)


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
