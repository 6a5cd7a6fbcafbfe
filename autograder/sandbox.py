"""Run untrusted notebook code in a separate, unprivileged, resource-limited process.

The sandbox is Bubblewrap (Debian's ``bubblewrap``): a fresh mount namespace with the
Python environment bound read-only, one private scratch folder (the only thing it can
write, and the only submission it can see), no network, its own process namespace (so
nothing it starts outlives it) and a size-capped /tmp. Run as root, the grader drops the
sandboxed process to user ``nobody`` with ``setpriv``; run as an ordinary user, Bubblewrap
maps it to ``nobody`` in a user namespace. Rlimits bound CPU time, memory, file size and
process count; a wall-clock backstop kills the whole tree.

Nothing the sandboxed process reports is evidence: the caller reads back only arrays.
"""

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

RUNNER = Path(__file__).with_name("runner.py")
NOBODY = 65534
WORKDIR = "/sandbox"  # where the scratch folder appears inside the sandbox


@dataclass
class Limits:
    """Resource limits of one sandboxed run. CPU limits are in seconds of CPU time."""

    cells_seconds: float = 60.0  # all of the notebook's cells together
    part_seconds: dict = field(default_factory=dict)  # grade_id -> CPU seconds per part
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    tmp_bytes: int = 64 * 1024**2
    processes: int = 256
    output_chars: int = 20_000  # how much of stdout/stderr is kept

    def process_cpu(self):
        """RLIMIT_CPU of every process: the cells run in the main process, each part in
        a child that lowers the limit to its own share."""
        return int(max([self.cells_seconds, *self.part_seconds.values()])) + 5

    def wall_seconds(self):
        """Backstop for what CPU limits cannot catch (sleeping, blocking on I/O)."""
        return 3 * (self.cells_seconds + sum(self.part_seconds.values())) + 20


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
    "bwrap-root": "bubblewrap (root drops to nobody with setpriv)",
    "bwrap-user": "bubblewrap (user namespace, uid nobody)",
    "none": "NONE: no sandbox available, untrusted code ran as the grader's user",
}


def _ancestors(path):
    """'/a/b/c' -> ['/a', '/a/b'] (the folders above path, top first)."""
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _readonly_paths():
    """The Python environment the sandbox needs, bound read-only at the same paths."""
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return sorted(p for p in paths if not str(p).startswith("/usr"))


def _bwrap_prefix(mode, scratch, tmp_limit, env=None):
    """The bwrap command line up to the program to run. ``--clearenv`` empties the
    environment inside the sandbox, so ``env`` is set there again with ``--setenv``."""
    # /tmp comes first: binds below may lie under /tmp (a checkout in /tmp/...), and a
    # later tmpfs would hide them.
    args = ["bwrap", "--size", str(tmp_limit), "--tmpfs", "/tmp",
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
        args += ["--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
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
        "MPLCONFIGDIR": "/tmp",
        "NBGRADER_EXECUTION": "autograde",
        # One BLAS thread per sandbox: workers run side by side, one per core.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _set_limits(limits):
    def apply():
        cpu = limits.process_cpu()
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return apply


def _read_head(stream, keep, sink):
    """Keep the first ``keep`` characters of a stream and drain the rest unread."""
    kept = 0
    while chunk := stream.read(65536):
        if kept < keep:
            sink.append(chunk[: keep - kept].decode("utf-8", "replace"))
            kept += len(chunk)


def _load_outputs(out_dir, expected):
    """Load the arrays the run wrote: plain numeric .npz only, never pickle."""
    outputs = {}
    for grade_id, case in expected:
        path = out_dir / f"{grade_id}__{case}.npz"
        if not path.is_file() or path.is_symlink():
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: np.array(data[name]) for name in data.files}
        except Exception:  # noqa: BLE001 - a corrupt file is a missing answer
            continue
        outputs[(grade_id, case)] = arrays
    return outputs


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


def run_job(cells, parts, inputs, probes_file, limits, packages=(), sandboxed=True):
    """Execute ``cells`` then each part's probe on its inputs, in a fresh sandbox.

    Inputs:
        cells: list of code-cell sources, run in order in one namespace.
        parts: list of {"grade_id", "probe", "cases": [case, ...]}.
        inputs: {(grade_id, case): {name: ndarray}} given to the probe as keyword args.
        probes_file: the set's (trusted) probes.py.
        limits: :class:`Limits`.
        packages: (package_name, source_folder, [file, ...]) copied into the sandbox's
            import path, e.g. the parts of the course library a problem set may use.
        sandboxed: False runs the trusted reference answer without Bubblewrap.

    Returns: :class:`RunResult`.
    """
    mode = sandbox_mode() if sandboxed else "none"
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
            "cells_seconds": limits.cells_seconds,
            "parts": [dict(p, seconds=limits.part_seconds.get(p["grade_id"], 10.0))
                      for p in parts],
        }
        (scratch / "job.json").write_text(json.dumps(job))
        for (grade_id, case), arrays in inputs.items():
            np.savez(scratch / "inputs" / f"{grade_id}__{case}.npz", **arrays)

        if mode == "none":
            home = str(scratch)
            command = [sys.executable, "runner.py"]
            cwd = scratch
        else:
            home = WORKDIR
            command = [*_bwrap_prefix(mode, scratch, limits.tmp_bytes, _environment(home)),
                       sys.executable, "runner.py"]
            cwd = None
        if os.geteuid() == 0:
            os.chmod(tmp, 0o711)
            for path in [scratch, *scratch.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        env = _environment(home)
        if mode == "none" and sandboxed:
            env["PYTHONPATH"] = str(scratch / "lib")

        t0 = time.monotonic()
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=_set_limits(limits),
            start_new_session=True,
        )
        head = []
        reader = threading.Thread(target=_read_head, args=(proc.stdout, limits.output_chars,
                                                           head), daemon=True)
        reader.start()
        exit_status = "ok"
        try:
            _, status, usage = _wait(proc, limits.wall_seconds())
        except TimeoutError:
            _kill_tree(proc)
            _, status, usage = os.wait4(proc.pid, 0)
            exit_status = "wall-clock limit"
        proc.returncode = 0
        reader.join(timeout=5)
        wall = time.monotonic() - t0
        if exit_status == "ok":
            exit_status = _describe(status)
        expected = [(p["grade_id"], c) for p in parts for c in p["cases"]]
        return RunResult(
            outputs=_load_outputs(scratch / "out", expected),
            log=_read_log(scratch / "log.jsonl"),
            exit_status=exit_status,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            wall_seconds=wall,
            output="".join(head),
            sandbox=SANDBOX_NAMES[mode],
        )


def _wait(proc, seconds):
    deadline = time.monotonic() + seconds
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.02)


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
