"""What makes a batch resumable: each student's result saved on its own, atomically.

``course/<assignment>/results/<student>.json`` holds one student's result together with
what it was graded under: the submission's bytes, the checks (solution notebook, checks,
probes, course-library files, secret seed, grader version) and the sandbox mode
(``bubblewrap``, or ``none`` when the instructor chose ``--no-sandbox``). A re-run reuses a
saved result when all three still match, so it grades only new or changed submissions,
everyone when the checks changed, and everyone graded under the other mode (unconfined
results are never carried into a sandboxed run, nor the other way round). The reference
answer's outputs and the CPU limits derived from them are saved the same way
(``reference/``), so a re-run judges with the very same limits and grades are identical
across runs.

Every file is written to a temporary name and renamed, so an interrupted run leaves each
file either complete or absent.
"""

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

import autograder
from autograder.run.grading import PartResult, Reference, SubmissionResult
from autograder.run.sandbox import RUNNER, Limits

FORMAT = 1  # bump when the saved layout changes: older results are then regraded


def file_digest(path):
    """SHA-256 of a file, read in chunks: a submission may be any size."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024**2):
            h.update(chunk)
    return h.hexdigest()


def checks_fingerprint(assignment, seed, library):
    """Digest of everything that decides grades apart from the submission itself.

    ``library`` is the output of ``grading.library_packages``: (name, folder, files).
    """
    h = hashlib.sha256()
    h.update(f"format {FORMAT}; autograder {autograder.__version__}; seed {seed}\n".encode())
    grader_code = Path(autograder.__file__).parent
    for path in [assignment.notebook, assignment.folder / "checks.py",
                 assignment.probes_file, RUNNER,
                 *sorted(grader_code.rglob("*.py"))]:
        h.update(f"{path.name}\n".encode())
        h.update(Path(path).read_bytes())
    for name, folder, files in library:
        for f in files:
            h.update(f"{name}/{f}\n".encode())
            h.update((Path(folder) / f).read_bytes())
    return h.hexdigest()


def write_atomically(path, data: bytes):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder):
    """Temporary files left by a run that was killed mid-write."""
    for tmp in Path(folder).glob(".tmp-*"):
        tmp.unlink(missing_ok=True)


def result_to_dict(result):
    return asdict(result)


def result_from_dict(data):
    parts = [PartResult(**p) for p in data.pop("parts")]
    return SubmissionResult(parts=parts, **data)


class ResultStore:
    """Saved results of one assignment, one JSON file per student."""

    def __init__(self, folder, fingerprint, mode="bubblewrap"):
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.mode = mode  # "bubblewrap" or "none"
        self.other_mode = []  # students whose saved result was graded under another mode
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)

    def _path(self, student_id):
        return self.folder / f"{student_id}.json"

    def load(self, student_id, submission_digest, not_before=0.0):
        """The saved result if it was graded from these bytes under these checks, in this
        sandbox mode, at ``not_before`` (a time.time()) or later."""
        try:
            data = json.loads(self._path(student_id).read_text())
        except (OSError, ValueError):
            return None
        if (not isinstance(data, dict) or data.get("checks") != self.fingerprint
                or data.get("submission") != submission_digest
                or data.get("graded_at", 0.0) < not_before):
            return None
        if data.get("sandbox") != self.mode:
            self.other_mode.append(student_id)
            return None
        try:
            return result_from_dict(data["result"])
        except (KeyError, TypeError):
            return None

    def save(self, result, submission_digest):
        data = {"checks": self.fingerprint, "submission": submission_digest,
                "sandbox": self.mode, "graded_at": time.time(),
                "result": result_to_dict(result)}
        write_atomically(self._path(result.student_id),
                         json.dumps(data, indent=1).encode())


def save_reference(folder, fingerprint, reference, mode="bubblewrap"):
    """Outputs as one .npz (keys ``grade_id__case__name``) and the rest as JSON."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    arrays = {f"{gid}__{case}__{name}": value
              for (gid, case), outputs in reference.outputs.items()
              for name, value in outputs.items()}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, folder / "outputs.npz")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    meta = {"checks": fingerprint, "sandbox": mode,
            "cases": sorted(f"{g}__{c}" for g, c in reference.outputs),
            "cpu_cells": reference.cpu_cells, "cpu_parts": reference.cpu_parts,
            "limits": asdict(reference.limits), "returned": reference.returned}
    # Written last: it names the fingerprint, so a reference is whole once this exists.
    write_atomically(folder / "reference.json", json.dumps(meta, indent=1).encode())


def load_reference(folder, fingerprint, mode="bubblewrap"):
    """The saved reference if it was made under these checks in this sandbox mode (its
    CPU times set the limits), else None."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "reference.json").read_text())
        if meta.get("checks") != fingerprint or meta.get("sandbox") != mode:
            return None
        outputs = {}
        for key in meta["cases"]:
            gid, case = key.split("__")
            outputs[(gid, case)] = {}
        with np.load(folder / "outputs.npz", allow_pickle=False) as data:
            for name in data.files:
                gid, case, array = name.split("__", 2)
                outputs[(gid, case)][array] = np.array(data[name])
        return Reference(outputs=outputs, limits=Limits(**meta["limits"]),
                         cpu_cells=meta["cpu_cells"], cpu_parts=meta["cpu_parts"],
                         returned=meta.get("returned", {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None
