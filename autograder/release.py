"""``autograder release``: solutions/ -> exercises/ through nbgrader, plus visible.json."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder import visible
from autograder.course import assignment as assignments
from autograder.errors import GraderError
from autograder.run.grading import VISIBLE_SEED, case_inputs, run_reference
from autograder.run.sandbox import sandbox_mode


def release(name: str, course_root: Path | str, sandboxed: bool = True) -> Path:
    """Write visible.json from the reference answer, then run nbgrader's
    generate_assignment (which strips solutions, locks test cells, records checksums
    and copies probes.py and visible.json; checks.py stays behind). Returns the released
    folder.
    """
    course_root = Path(course_root)
    a = assignments.load(name, course_root / "solutions")
    inputs = case_inputs(a, VISIBLE_SEED, visible=True)
    # The reference answer is the instructor's own code: the sandbox is used when there is
    # one (the same environment students' code meets) but not required.
    reference = run_reference(a, inputs, sandboxed=sandboxed and sandbox_mode() != "none")
    target = a.folder / visible.FILENAME
    document = visible.build(a, inputs, reference.outputs, reference.returned)
    try:
        committed = json.loads(target.read_text())
    except (OSError, ValueError):
        committed = None
    visible.write(target, visible.keep_unchanged(document, committed))
    with tempfile.TemporaryDirectory() as tmp:
        # A throwaway gradebook: releasing must not touch any course's grades.
        command = [str(Path(sys.executable).with_name("nbgrader")), "generate_assignment",
                   a.name, "--force", f"--db=sqlite:///{tmp}/release.db", "--log-level=WARN"]
        done = subprocess.run(command, cwd=course_root, capture_output=True, text=True)
    if done.returncode != 0:
        raise GraderError(f"nbgrader generate_assignment failed for {a.name}:\n"
                          f"{done.stdout}{done.stderr}")
    return course_root / "exercises" / a.name
