"""Runs a submission's code and the probes, inside the sandbox.

This file is copied into the sandbox and run there by the submission's own interpreter,
so it uses only the standard library and NumPy, and nothing it writes is trusted: the
grader outside reads back only plain arrays (``.npz`` loaded without pickle) and compares
them with the reference itself. Everything here can be subverted by the code it runs;
that costs only the submission that does it.

Job folder layout (paths relative to the working directory)::

    job.json         {"cells": [source, ...], "cells_seconds": float,
                      "parts": [{"grade_id", "probe", "cases": [name, ...], "seconds"}]}
    probes.py        the set's public probes (the grader's trusted copy)
    inputs/ID__CASE.npz   one file of input arrays per case
    out/ID__CASE.npz      written here: the probe's output arrays
    log.jsonl        written here: one JSON object per event, for messages only
"""

import contextlib
import importlib.util
import json
import os
import resource
import signal
import sys
import time
import traceback
import types

import numpy as np


class CellTimeoutError(Exception):
    """Raised inside a cell that used up its CPU-time budget."""


class NotebookNamespace(dict):
    """The notebook's variables, as probes see them: a missing name reads as a NameError
    saying so, rather than a bare KeyError."""

    def __missing__(self, name):
        raise NameError(f"{name} is not defined in your notebook")


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
    """The last line of a traceback, e.g. "ValueError: shapes (2,3) and (2,3) not aligned"."""
    lines = traceback.format_exception_only(type(exc), exc)
    return lines[-1].strip()[:500]


def strip_magics(source):
    """Comment out IPython magics and shell escapes, which are not Python."""
    return "\n".join(
        "# " + line if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    )


def on_cpu_alarm(signum, frame):
    raise CellTimeoutError("the cell used up its CPU time")


def run_cells(cells, seconds):
    """Execute the cells in order in one namespace, as a notebook kernel would.

    An error (or sys.exit) in one cell is logged and execution goes on with the next,
    so a broken cell costs only the parts that depend on it. All cells together get
    ``seconds`` of CPU time; a cell that runs over is interrupted.
    """
    namespace = {"__name__": "__main__", "display": print}
    signal.signal(signal.SIGPROF, on_cpu_alarm)
    start = time.process_time()
    for index, source in enumerate(cells):
        remaining = seconds - (time.process_time() - start)
        if remaining <= 0:
            log("cell-error", cell=index, error="not run: the notebook used up its CPU time")
            continue
        log("cell-start", cell=index)
        signal.setitimer(signal.ITIMER_PROF, remaining)
        try:
            exec(compile(strip_magics(source), f"<cell {index}>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - a notebook survives any cell error
            log("cell-error", cell=index, error=short_error(exc))
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
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
            try:
                outputs = probe(NotebookNamespace(namespace), **inputs)
                arrays = {name: np.asarray(value) for name, value in outputs.items()}
            except BaseException as exc:  # noqa: BLE001
                error = exc
            else:
                error = None
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


def run_parts_isolated(namespace, probes, parts):
    """Each part in its own forked child with its own CPU limit and a wall-clock limit,
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
        deadline = time.monotonic() + 3 * part["seconds"] + 5
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                cpu = usage.ru_utime + usage.ru_stime
                log("part-done", grade_id=part["grade_id"], cpu_seconds=cpu)
                if os.WIFSIGNALED(status):
                    signame = signal.Signals(os.WTERMSIG(status)).name
                    log("part-killed", grade_id=part["grade_id"], signal=signame)
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                log("part-killed", grade_id=part["grade_id"], signal="wall-clock")
                break
            time.sleep(0.01)


def main():
    with open("job.json") as f:
        job = json.load(f)
    os.makedirs("out", exist_ok=True)
    t0 = time.process_time()
    namespace = run_cells(job["cells"], job["cells_seconds"])
    log("cells-done", cpu_seconds=time.process_time() - t0)
    probes = load_probes()
    run_parts_isolated(namespace, probes, job["parts"])
    log("done")


if __name__ == "__main__":
    main()
