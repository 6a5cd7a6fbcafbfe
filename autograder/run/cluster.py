"""Grading on a Dask distributed cluster: work and results travel as data.

The client packs everything a worker needs into plain data: the problem set's files
(checks, probes, source notebook) and the course-library files its sandbox offers, as
bytes; the secret inputs and the reference answer's outputs and limits as arrays; each
submission as its notebook's bytes. A worker unpacks the problem set once into a private
temporary folder, grades in its own sandbox, and returns the result as a dataclass. No
worker reads the instructor's file system, so workers need no shared folder; they need the
same Python environment (this project and its pinned requirements), and bubblewrap.
"""

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GraderError


@dataclass(frozen=True)
class Bundle:
    """A problem set as data. ``files``: {name: bytes} of the set's folder (checks.py,
    probes.py, the notebook); ``library``: ((package, ((relative path, bytes), ...)), ...).
    """

    name: str
    fingerprint: str
    files: tuple  # ((file name, bytes), ...)
    library: tuple


def make_bundle(assignment, packages, fingerprint):
    files = tuple((p.name, p.read_bytes())
                  for p in (assignment.folder / "checks.py", assignment.probes_file,
                            assignment.notebook))
    library = tuple((name, tuple((f, (Path(folder) / f).read_bytes()) for f in files_))
                    for name, folder, files_ in packages)
    return Bundle(assignment.name, fingerprint, files, library)


# On a worker: unpacked bundles by fingerprint, so each problem set is written once.
_UNPACKED = {}
_UNPACK_LOCK = threading.Lock()
_SLOT_LOCK = threading.Lock()
_FREE_SLOTS = []


def _unpack(bundle):
    """(assignment, packages) of a bundle, written to a private folder on this worker."""
    from autograder.course import assignment as assignments

    with _UNPACK_LOCK:
        if bundle.fingerprint not in _UNPACKED:
            root = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
            folder = root / "sets" / bundle.name
            folder.mkdir(parents=True)
            for name, data in bundle.files:
                (folder / name).write_bytes(data)
            packages = []
            for package, files in bundle.library:
                for rel, data in files:
                    target = root / "lib" / package / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                packages.append((package, root / "lib" / package, [rel for rel, _ in files]))
            _UNPACKED[bundle.fingerprint] = (assignments.load(bundle.name, root / "sets"),
                                             packages)
        return _UNPACKED[bundle.fingerprint]


def _take_slot():
    """A free slot of this worker process (each slot's sandbox runs as its own uid)."""
    with _SLOT_LOCK:
        local = _FREE_SLOTS.pop() if _FREE_SLOTS else len(_TAKEN)
        _TAKEN.add(local)
    return local, local  # sandbox.slot_uid makes it unique on the machine


_TAKEN = set()


def _give_slot(local):
    with _SLOT_LOCK:
        _TAKEN.discard(local)
        _FREE_SLOTS.append(local)


def grade_remote(bundle, reference, inputs, student_id, notebook_name, notebook_bytes, note,
                 sandboxed=True):
    """Run on a Dask worker: grade one submission given as bytes; return its result.

    A worker without a working Bubblewrap raises SandboxUnavailableError (naming the worker)
    unless the instructor chose ``--no-sandbox``: it never grades unconfined by itself.
    """
    import socket

    from autograder.run.grading import grade_notebook
    from autograder.run.sandbox import SandboxUnavailableError, sandbox_mode

    if sandboxed and sandbox_mode() == "none":
        raise SandboxUnavailableError(f"Dask worker {socket.gethostname()}: no sandbox "
                                 "(bubblewrap) there; install it on every worker, or pass "
                                 "--no-sandbox to run submissions unconfined (not for credit)")

    assignment, packages = _unpack(bundle)
    local, slot = _take_slot()
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-submission-") as tmp:
            path = Path(tmp) / Path(notebook_name).name
            path.write_bytes(notebook_bytes)
            result = grade_notebook(student_id, path, assignment, reference, inputs,
                                    sandboxed=sandboxed, slot=slot, packages=packages)
    finally:
        _give_slot(local)
    result.notebook = notebook_name
    if note:
        result.notes.insert(0, note)
    return result


def connect(address):
    """A Dask client of the scheduler at ``address``, or a GraderError saying why not."""
    from distributed import Client

    try:
        return Client(address, timeout=20)
    except (OSError, TimeoutError) as exc:
        raise GraderError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


class DaskRunner:
    """Jobs on a Dask distributed cluster, sent and returned as data: the problem set and
    the reference once to every worker, each submission as its notebook's bytes."""

    def __init__(self, jobs, assignment, reference, inputs, scheduler, fingerprint,
                 sandboxed=True):
        from autograder.run.grading import library_packages

        self.client = connect(scheduler)
        bundle = make_bundle(assignment, library_packages(assignment), fingerprint)
        # sent once to every worker, not once per submission
        shared = self.client.scatter([bundle, reference, inputs], broadcast=True)
        self.pending = {}  # future -> job
        for job in jobs:
            future = self.client.submit(
                grade_remote, *shared, job.student_id, job.path.name, job.path.read_bytes(),
                job.note, sandboxed,
                key=f"grade-{assignment.name}-{job.student_id}-{job.digest[:16]}",
                pure=False, retries=1)
            self.pending[future] = job

    def results(self):
        from distributed import as_completed

        for future in as_completed(list(self.pending)):
            yield self.pending.pop(future), future.result()

    def stop(self):
        self.client.cancel(list(self.pending))

    def close(self):
        self.client.close()
