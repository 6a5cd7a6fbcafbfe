"""What makes a batch resumable: each student's result saved on its own, atomically.

``course/<assignment>/results/<student>.json`` holds one student's result together with
what it was graded under: the submission's bytes, the checks (solution notebook, checks,
probes, course-library files, secret seed, the grader's grading modules) and the sandbox mode
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

from __future__ import annotations

import hashlib
import io
import json
import secrets
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

import autograder
from autograder.course.assignment import Assignment
from autograder.files import remove_stale_temporaries, write_atomically
from autograder.run.grading import PartResult, Reference, SubmissionResult
from autograder.run.sandbox import Limits

FORMAT = 1  # bump when the saved layout changes: older results are then regraded


def secret_seed(path: Path) -> int:
    """The assignment's secret seed, created once and kept, so regrading is repeatable."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, f"{secrets.randbits(63)}\n")
        path.chmod(0o600)
    return int(path.read_text().strip())


def file_digest(path: Path | str) -> str:
    """SHA-256 of a file, read in chunks: a submission may be any size."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024**2):
            h.update(chunk)
    return h.hexdigest()


# The grader's own modules that decide a part's points: how cells run and are limited
# (run/), which cells run and the source rules (course/notebooks.py), how the problem set
# is read (course/assignment.py), how outputs are compared (course/compare.py, visible.py's
# judge) and the own-work rules (ownwork.py). A change to any other module (the pages,
# the CSVs, the command line, intake, the gradebook writer) changes no saved result, so it
# must not make a re-run regrade the class.
GRADING_MODULES = ("run/grading.py", "run/sandbox.py", "run/template.py", "run/in_sandbox.py",
                   "course/notebooks.py", "course/assignment.py", "course/compare.py",
                   "visible.py", "ownwork.py")


def checks_fingerprint(assignment: Assignment, seed: int,
                       library: list[tuple[str, Path, list[str]]],
                       grader_code: Path | None = None) -> str:
    """Digest of everything that decides grades apart from the submission itself: the
    set's solution notebook, checks and probes, the secret seed, the course-library files
    the sandbox offers and the grading modules (GRADING_MODULES).

    ``library`` is the output of ``grading.library_packages``: (name, folder, files);
    ``grader_code``: the autograder package's folder (default: this one).
    """
    h = hashlib.sha256()
    h.update(f"format {FORMAT}; seed {seed}\n".encode())
    grader_code = grader_code or Path(autograder.__file__).parent
    for name, path in [("notebook", assignment.notebook),
                       ("checks.py", assignment.folder / "checks.py"),
                       ("probes.py", assignment.probes_file),
                       *((m, grader_code / m) for m in GRADING_MODULES)]:
        h.update(f"{name}\n".encode())
        h.update(Path(path).read_bytes())
    for name, folder, files in library:
        for f in files:
            h.update(f"{name}/{f}\n".encode())
            h.update((Path(folder) / f).read_bytes())
    return h.hexdigest()


def result_to_dict(result: SubmissionResult) -> dict[str, Any]:
    return asdict(result)


def result_from_dict(data: dict[str, Any]) -> SubmissionResult:
    """The result :func:`result_to_dict` saved (``data`` loses its "parts")."""
    parts = [PartResult(**p) for p in data.pop("parts")]
    return SubmissionResult(parts=parts, **data)


class ResultStore:
    """Saved results of one assignment, one JSON file per student."""

    def __init__(self, folder: Path | str, fingerprint: str, mode: str = "bubblewrap") -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.mode = mode  # "bubblewrap" or "none"
        # students whose saved result was graded under another mode; and those whose
        # result was loaded anyway (same_checks=False), graded under other checks or mode
        self.other_mode: list[str] = []
        self.outdated: list[str] = []
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)

    def _path(self, student_id: str) -> Path:
        return self.folder / f"{student_id}.json"

    def load(self, student_id: str, submission_digest: str, not_before: float = 0.0,
             same_checks: bool = True) -> SubmissionResult | None:
        """The saved result if it was graded from these bytes under these checks, in this
        sandbox mode, at ``not_before`` (a time.time()) or later. With ``same_checks``
        False, a result of these bytes under any checks and mode (what the gradebook holds
        now, for publishing it again)."""
        try:
            data = json.loads(self._path(student_id).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("submission") != submission_digest:
            return None
        if same_checks:
            if (data.get("checks") != self.fingerprint
                    or data.get("graded_at", 0.0) < not_before):
                return None
            if data.get("sandbox") != self.mode:
                self.other_mode.append(student_id)
                return None
        elif data.get("checks") != self.fingerprint or data.get("sandbox") != self.mode:
            self.outdated.append(student_id)
        try:
            return result_from_dict(data["result"])
        except (KeyError, TypeError):
            return None

    def save(self, result: SubmissionResult, submission_digest: str) -> None:
        data = {"checks": self.fingerprint, "submission": submission_digest,
                "sandbox": self.mode, "graded_at": time.time(),
                "result": result_to_dict(result)}
        write_atomically(self._path(result.student_id),
                         json.dumps(data, indent=1).encode())


def save_reference(folder: Path | str, fingerprint: str, reference: Reference,
                   mode: str = "bubblewrap") -> None:
    """Outputs as one .npz (keys ``grade_id__case__name``) and the rest as JSON."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    arrays = {f"{gid}__{case}__{name}": value
              for (gid, case), outputs in reference.outputs.items()
              for name, value in outputs.items()}
    data = io.BytesIO()
    np.savez(data, **arrays)
    write_atomically(folder / "outputs.npz", data.getvalue())
    meta = {"checks": fingerprint, "sandbox": mode,
            "cases": sorted(f"{g}__{c}" for g, c in reference.outputs),
            "cpu_cells": reference.cpu_cells, "cpu_parts": reference.cpu_parts,
            "limits": asdict(reference.limits), "returned": reference.returned}
    # Written last: it names the fingerprint, so a reference is whole once this exists.
    write_atomically(folder / "reference.json", json.dumps(meta, indent=1).encode())


def load_reference(folder: Path | str, fingerprint: str,
                   mode: str = "bubblewrap") -> Reference | None:
    """The saved reference if it was made under these checks in this sandbox mode (its
    CPU times set the limits), else None."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "reference.json").read_text())
        if meta.get("checks") != fingerprint or meta.get("sandbox") != mode:
            return None
        outputs: dict[tuple[str, str], dict[str, np.ndarray]] = {}
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
