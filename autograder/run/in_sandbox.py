"""Runs a submission's code and the probes, inside the sandbox.

This file is copied into the sandbox and run there by the submission's own interpreter
(the course's environment, so NumPy and IPython are there; without IPython it falls back
to plain ``exec``), and nothing it writes is trusted: the grader outside reads back only
plain arrays (``.npz`` loaded without pickle) and compares them with the reference itself.
Everything here can be subverted by the code it runs; that costs only the submission that
does it.

Cells run through an IPython ``InteractiveShell``, as a Jupyter kernel runs them: line
and cell magics, ``x = !cmd``, ``get_ipython()``, ``display``, ``obj?`` all mean what they
mean in Jupyter.

Time limits are per cell, so a cell that loops forever costs that cell (and what depends
on it), never the cells after it: each cell gets ``cell_seconds`` of CPU time; once
``full_timeouts`` cells have run out of it, each later cell gets ``grace_seconds`` (enough
to define functions, which takes microseconds), so a notebook of endless loops cannot hold
its worker for long. CPU time, not wall-clock time, decides, so the outcome does not
depend on how busy the machine is.

Job folder layout (paths relative to the working directory)::

    job.json         {"cells": [source, ...], "numbers": [Jupyter's cell number, ...],
                      "limits": {"cell_seconds", "full_timeouts", "grace_seconds"},
                      "parts": [{"grade_id", "probe", "cases": [name, ...], "seconds"}]}
    probes.py        the set's public probes (the grader's trusted copy)
    inputs/ID__CASE.npz   one file of input arrays per case
    out/ID__CASE.npz      written here: the probe's output arrays
    log.jsonl        written here: one JSON object per event, for messages only
"""

import contextlib
import functools
import importlib.util
import json
import os
import re
import resource
import select
import signal
import sys
import time
import traceback
import types

import numpy as np


class CellTimeoutError(BaseException):
    """Raised inside a cell that used up its CPU time. A BaseException, like
    KeyboardInterrupt, so that a student's ``except Exception`` does not swallow it."""


class NotebookNamespace(dict):
    """The notebook's variables, as probes see them: a missing name reads as a NameError
    saying so, rather than a bare KeyError; and each of the notebook's functions a probe
    takes from here is wrapped to note what kind of value it returned (see
    :func:`return_kind`), so that a failed part can say "relu_forward returned None"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.returned = {}  # function name -> [kind, ...] in the order first seen

    def __missing__(self, name):
        raise NameError(f"{name} is not defined in your notebook")

    def __getitem__(self, name):
        value = super().__getitem__(name)
        if isinstance(value, types.FunctionType):
            return self._watched(name, value)
        return value

    def _watched(self, name, function):
        kinds = self.returned.setdefault(name, [])

        @functools.wraps(function)
        def watched(*args, **kwargs):
            result = function(*args, **kwargs)
            kind = return_kind(result)
            if kind not in kinds:
                kinds.append(kind)
            return result

        return watched


def return_kind(value):
    """What kind of value a function returned, in words a message can use:
    "None", "2 values" (a tuple or list), "an array", "a number", "a dict", ..."""
    if value is None:
        return "None"
    if isinstance(value, tuple | list):
        return f"{len(value)} values"
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return "an array"
    if isinstance(value, int | float | complex | np.generic | np.ndarray):
        return "a number"
    return f"a {type(value).__name__}"


class ShortcutError(BaseException):
    """A function ran more often than the part's rule allows (finite differences).

    A BaseException, so that ``except Exception`` around a finite-difference loop does
    not swallow it; the part fails whether or not it is caught (see watched_calls)."""


HOOKS = "__autograder_call_hooks__"  # in the functions' globals while they are watched
_TRAMPOLINE = """
def trampoline(*args, **kwargs):
    hooks = __autograder_call_hooks__[KEY]
    hooks[1]()
    try:
        return hooks[0](*args, **kwargs)
    finally:
        hooks[2]()
"""


def _instrument(namespace, name, enter, leave):
    """Make every call of the function ``namespace[name]`` run ``enter`` and ``leave``
    around it; return a function that undoes it.

    The function object itself is changed (its code swapped for a trampoline that calls
    a copy of the original), so that an alias, a functools.partial or a closure that
    captured it counts too. A function with free variables cannot take that code: its
    name in ``namespace`` is rebound to a wrapper instead."""
    func = dict.get(namespace, name)
    if not isinstance(func, types.FunctionType):
        return None
    original = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                                  func.__defaults__, func.__closure__)
    original.__kwdefaults__ = func.__kwdefaults__
    hooks = func.__globals__.setdefault(HOOKS, {})
    hooks[name] = (original, enter, leave)
    if func.__closure__:
        def wrapper(*args, **kwargs):
            enter()
            try:
                return original(*args, **kwargs)
            finally:
                leave()
        namespace[name] = wrapper

        def undo():
            namespace[name] = func
            hooks.pop(name, None)
        return undo
    scratch = {}
    exec(compile(_TRAMPOLINE.replace("KEY", repr(name)), f"<calls of {name}>", "exec"),
         scratch)
    saved = (func.__code__, func.__defaults__, func.__kwdefaults__)
    func.__code__ = scratch["trampoline"].__code__.replace(co_name=func.__name__)
    func.__defaults__, func.__kwdefaults__ = None, None

    def undo():
        func.__code__, func.__defaults__, func.__kwdefaults__ = saved
        hooks.pop(name, None)
    return undo


@contextlib.contextmanager
def watched_calls(namespace, during, most):
    """Count calls while one of the functions named ``during`` runs.

    Inside the block, each function named in ``most`` ({name: n}) may be entered at most
    n times per outermost call of a ``during`` function (a ``during`` function entered
    again inside itself counts as a call of itself). One call more raises ShortcutError
    there, and every later one too; the yielded dict's "over" then holds the message.
    Functions missing from ``namespace`` are not watched. Everything is undone on exit.
    """
    state = {"depth": 0, "outer": None, "counts": {}, "over": None}
    undo = []

    def hooks_for(name):
        def enter():
            if state["depth"] and name in most:
                state["counts"][name] = state["counts"].get(name, 0) + 1
                if state["counts"][name] > most[name] and not state["over"]:
                    what = "itself" if name == state["outer"] else name
                    state["over"] = (
                        f"{state['outer']} called {what} more than {most[name]} "
                        f"time{'s' if most[name] != 1 else ''} in one call: a gradient "
                        "by finite differences through the forward pass is not the "
                        "analytic gradient this part asks for")
            if state["over"] and name in most:
                raise ShortcutError(state["over"])
            if name in during:
                if not state["depth"]:
                    state["outer"], state["counts"] = name, {}
                state["depth"] += 1

        def leave():
            if name in during:
                state["depth"] -= 1
        return enter, leave

    try:
        for name in sorted(set(during) | set(most)):
            done = _instrument(namespace, name, *hooks_for(name))
            if done:
                undo.append(done)
        yield state
    finally:
        for done in reversed(undo):
            done()


def log(event, **fields):
    with open("log.jsonl", "a") as f:
        f.write(json.dumps({"event": event, **fields}) + "\n")


def short_error(exc):
    """The last line of a traceback, and the notebook function it was raised in, e.g.
    "ValueError: matmul: Input operand 1 has a mismatch ... (in affine_forward)": NumPy's
    messages name no function, so a shape error deep in a given helper would otherwise
    read as if it came from nowhere."""
    lines = traceback.format_exception_only(type(exc), exc)
    where = notebook_function(exc)
    return lines[-1].strip()[:500] + (f" (in {where})" if where else "")


def notebook_function(exc):
    """Name of the innermost notebook function (defined in a cell) the exception passed
    through, or "" (raised at a cell's top level, or only in library code)."""
    name = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        in_cell = frame.filename.startswith(("<ipython-input-", "<cell "))
        if in_cell and frame.name != "<module>":
            name = frame.name
    return name


def strip_magics(source):
    """Comment out IPython magics and shell escapes (only without IPython)."""
    return "\n".join(
        "# " + line if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    )


def make_shell():
    """An IPython shell that runs cells as a Jupyter kernel does, or None without IPython.

    Differences from a kernel, none of which changes what a cell computes: there is no
    event loop (``%matplotlib inline`` needs none), no history (of inputs or of printed
    output, which IPython 9 otherwise keeps in memory), tracebacks are short
    (a deep RecursionError would otherwise print megabytes), and ``%timeit`` without
    ``-n``/``-r`` runs its statement once instead of for about two seconds, so its cost
    does not depend on how fast the machine happens to be.
    """
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
    except ImportError:
        return None

    class GradingShell(InteractiveShell):
        def enable_gui(self, gui=None):
            pass

        @contextlib.contextmanager
        def _tee(self, channel):
            # IPython 9 keeps a copy of everything a cell prints, for its history; a
            # notebook that prints a lot would run out of memory here for that alone.
            yield

        def showtraceback(self, exc_tuple=None, filename=None, tb_offset=None,
                          exception_only=False, running_compiled_code=False):
            etype, value, tb = exc_tuple or sys.exc_info()
            if etype is None:
                return
            lines = traceback.format_exception(etype, value, None if exception_only else tb,
                                               limit=-8)
            print("".join(lines)[-4000:], file=sys.stderr)

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    shell = GradingShell.instance(config=config)
    timeit = shell.find_magic("timeit")

    def quick_timeit(line="", cell=None, local_ns=None):
        options = line.split(" -- ")[0] if cell is None else line
        if not re.search(r"(^|\s)-n\s*\d", options):
            line = "-n1 " + line
        if not re.search(r"(^|\s)-r\s*\d", options):
            line = "-r1 " + line
        return timeit(line, cell, local_ns)

    quick_timeit.needs_local_scope = True
    shell.register_magic_function(quick_timeit, "line_cell", "timeit")
    return shell


def on_cpu_alarm(signum, frame):
    raise CellTimeoutError("the cell used up its CPU time")


def run_source(shell, namespace, source, number):
    """Run one cell; return the exception it ended with, or None."""
    if shell is None:
        try:
            exec(compile(strip_magics(source), f"<cell {number}>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - a notebook survives any cell error
            return exc
        return None
    shell.execution_count = number  # tracebacks say "Cell In[20]", as Jupyter does
    result = shell.run_cell(source, store_history=True)
    return result.error_before_exec or result.error_in_exec


def run_cells(shell, cells, numbers, limits):
    """Execute the cells in order in one namespace, as a notebook kernel would.

    An error (or sys.exit) in one cell is logged and execution goes on with the next,
    so a broken cell costs only the parts that depend on it. Each cell has its own CPU
    time limit (see the module's docstring); a cell that runs over is interrupted, and
    the next cell runs.
    """
    namespace = shell.user_ns if shell is not None else {"__name__": "__main__",
                                                          "display": print}
    full, grace = limits["cell_seconds"], min(limits["cell_seconds"], limits["grace_seconds"])
    timeouts = 0
    for index, source in enumerate(cells):
        seconds = full if timeouts < limits["full_timeouts"] else grace
        signal.signal(signal.SIGPROF, on_cpu_alarm)
        log("cell-start", cell=index, seconds=seconds)
        error = None
        # Re-fires every 0.5 s of CPU time, in case the cell catches the first one.
        signal.setitimer(signal.ITIMER_PROF, seconds, 0.5)
        try:
            error = run_source(shell, namespace, source, numbers[index])
        except BaseException as exc:  # noqa: BLE001 - the alarm may strike in IPython itself
            error = exc
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        if isinstance(error, CellTimeoutError):
            timeouts += 1
            log("cell-timeout", cell=index, seconds=seconds)
        elif error is not None:
            log("cell-error", cell=index, error=short_error(error))
    sys.stdout.flush()
    sys.stderr.flush()
    return namespace


def load_probes():
    spec = importlib.util.spec_from_file_location("probes", "probes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_part(namespace, probes, part):
    """Run one part's probe on each of its cases; write outputs. Runs in a forked child."""
    probe = getattr(probes, part["probe"])
    watch = part.get("watch") or {"during": (), "most": {}}
    for case in part["cases"]:
        key = f"{part['grade_id']}__{case}"
        with np.load(f"inputs/{key}.npz", allow_pickle=False) as data:
            inputs = {name: data[name] for name in data.files}
        with watched_calls(namespace, watch["during"], watch["most"]) as calls:
            ns = NotebookNamespace(namespace)  # notes what each function returned
            try:
                outputs = probe(ns, **inputs)
                arrays = {name: np.asarray(value) for name, value in outputs.items()}
            except BaseException as exc:  # noqa: BLE001
                error = exc
            else:
                error = None
        if ns.returned:
            log("returned", grade_id=part["grade_id"], case=case, kinds=ns.returned)
        if calls["over"]:
            log("shortcut", grade_id=part["grade_id"], case=case, error=calls["over"])
        elif error is not None:
            log("probe-error", grade_id=part["grade_id"], case=case,
                error=short_error(error))
        else:
            try:
                np.savez(f"out/{key}.npz", **arrays)
            except BaseException as exc:  # noqa: BLE001
                log("probe-error", grade_id=part["grade_id"], case=case,
                    error=short_error(exc))


def busy_seconds(pid):
    """Seconds ``pid`` has spent running or waiting for a CPU (ready to run), from
    /proc/PID/schedstat; None where the kernel does not say. Wall-clock time minus this
    is time spent sleeping or blocked, which does not grow when the machine is busy."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            running, waiting = f.read().split()[:2]
        return (int(running) + int(waiting)) / 1e9
    except (OSError, ValueError):
        return None


def wait_for_part(pid, part):
    """Wait for a part's child; kill it once it has slept (or blocked) for longer than
    its idle allowance. Returns (wait status, CPU seconds) or (None, None) if killed."""
    allowance = part["seconds"] + 5
    start = time.monotonic()
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return status, usage.ru_utime + usage.ru_stime
            busy = busy_seconds(pid)
            wall = time.monotonic() - start
            idle = wall - busy if busy is not None else wall / 3
            if idle > allowance:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None, None
            if pidfd is not None:
                select.select([pidfd], [], [], 0.2)  # wakes when the child ends
            else:
                time.sleep(0.05)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def run_parts_isolated(namespace, probes, parts):
    """Each part in its own forked child with its own CPU limit and an idle limit,
    so an infinite loop in one function costs only that function's part."""
    for part in parts:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                limit = max(1, int(part["seconds"] + 0.999))
                resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))
                run_part(namespace, probes, part)
            except BaseException:  # noqa: BLE001
                status = 1
            finally:
                with contextlib.suppress(BaseException):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(status)
        status, cpu = wait_for_part(pid, part)
        if status is None:
            log("part-killed", grade_id=part["grade_id"], signal="wall-clock")
            continue
        log("part-done", grade_id=part["grade_id"], cpu_seconds=cpu)
        if os.WIFSIGNALED(status):
            signame = signal.Signals(os.WTERMSIG(status)).name
            log("part-killed", grade_id=part["grade_id"], signal=signame)


def main():
    with open("job.json") as f:
        job = json.load(f)
    os.makedirs("out", exist_ok=True)
    numbers = job.get("numbers") or list(range(1, len(job["cells"]) + 1))
    shell = make_shell()
    t0 = time.process_time()
    namespace = run_cells(shell, job["cells"], numbers, job["limits"])
    log("cells-done", cpu_seconds=time.process_time() - t0)
    probes = load_probes()
    run_parts_isolated(namespace, probes, job["parts"])
    log("done")


if __name__ == "__main__":
    main()
