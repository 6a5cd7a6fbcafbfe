"""One writer per course folder: ``grade`` and ``review import`` take ``<course>/.lock``.

A second run on the same course folder **waits** for the first and says so in one line
(who holds the folder, since when). Waiting rather than refusing: an instructor who starts
ps01 and ps03 at once wants both batches, and they would only have raced each other for the
same gradebook; serialised, each sees the other's finished writes. Ctrl-C stops the wait.

The lock is ``flock`` on a file in the course folder, so it is released by the kernel when
its holder exits, even by ``kill -9``: a stale lock cannot block the next run. It covers
processes on one machine (and on file systems whose ``flock`` is shared, e.g. local disks;
not every NFS). A gradebook given with ``--db`` and shared by several course folders is not
covered: give them one course folder.

The lock is re-entrant within a process: ``review import`` holds it while it writes scores
and while it re-runs the last ``grade`` from saved results.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from autograder.errors import GraderError

LOCK_NAME = ".lock"
_held: dict[Path, tuple[TextIO, int]] = {}  # resolved lock path -> (file, depth), here
_guard = threading.Lock()


def _holder(path: Path) -> str:
    """What the lock file says about its holder, as a phrase, or ''."""
    try:
        info = json.loads(Path(path).read_text() or "{}")
        return (f" (pid {info['pid']}: autograder {info['what']}, started "
                f"{info['started']})")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


@contextmanager
def course_lock(course_dir: Path | str, what: str, echo: Callable[[str], object] = print,
                create: bool = True) -> Iterator[None]:
    """Hold the course folder's lock for the block; wait (with one line) if another
    process holds it. ``what`` names this run for whoever waits on it, e.g. 'grade ps01'.
    ``create=False``: a course folder that does not exist is an error (nothing to lock)."""
    folder = Path(course_dir).resolve()
    if not create and not folder.is_dir():
        raise GraderError(f"course folder {folder} does not exist: grade the set there "
                          "first, or give the right --course-dir")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    with _guard:
        if path in _held:
            f, depth = _held[path]
            _held[path] = (f, depth + 1)
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield
        finally:
            with _guard:
                f, depth = _held[path]
                _held[path] = (f, depth - 1)
        return
    f = open(path, "a+")  # noqa: SIM115 - held for the whole block, closed below
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo(f"waiting for another autograder run on {folder}{_holder(path)} "
                 "to finish ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "what": what,
                            "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        f.flush()
        with _guard:
            _held[path] = (f, 1)
        try:
            yield
        finally:
            with _guard:
                del _held[path]
            f.seek(0)
            f.truncate()
            f.flush()
    finally:
        f.close()  # closing releases the flock
