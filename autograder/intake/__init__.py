"""A batch's input, read and checked whole before anything is written.

The submissions (an nbgrader ``submitted/`` tree, a flat folder, one notebook, or a Canvas
zip, unpacked into a private temporary folder first), the roster and the late-work policy
are all read here; any of them that is wrong stops the batch with one line (a
GraderError, exit 2) before a gradebook, a result or a feedback page is touched:

* a roster without a ``student_id`` column, or naming a student twice (ids differing
  only in case count as the same student);
* two submissions whose ids differ only in case (``Alice/`` and ``alice/``);
* submissions that are another set's notebooks, or none of this set's
  (see autograder.course.matching).

Ids that differ only in case between the roster and the submissions are one student:
the roster's spelling is used, and a note says so. Course ids (Canvas logins, nbgrader
user names, e-mail addresses) do not tell students apart by case, and a folder copied
through a case-insensitive file system (macOS, Windows) cannot keep two of them anyway.
"""

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import matching
from autograder.intake.late import load_policy
from autograder.intake.sources import discover, read_roster
from autograder.lms import canvas


@dataclass
class Intake:
    submissions: dict  # {student id: Submission}
    ids: list  # every student of the batch, roster order first
    canvas_rows: list | None
    policy: object  # LatePolicy or None
    notes: list = field(default_factory=list)  # one line each, shown once graded starts
    staged: Path | None = None  # a Canvas zip unpacked here, until kept
    from_zip: bool = False

    def keep(self, folder, assignment):
        """Move a staged Canvas zip's notebooks to ``folder`` (the course's copy)."""
        if self.staged is None:
            return
        folder = Path(folder)
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.staged / "unpacked"), str(folder))  # keeps the file times
        shutil.rmtree(self.staged, ignore_errors=True)
        self.staged = None
        moved = discover(folder, assignment.name, assignment.notebook.name)
        self.submissions = {sid: _renamed(moved[s.original_id or sid], sid)
                            for sid, s in self.submissions.items()}

    def discard(self):
        if self.staged is not None:
            shutil.rmtree(self.staged, ignore_errors=True)
            self.staged = None


def read_input(assignment, submissions_path, roster=None, late_file=None):
    """Read and check everything a batch needs; raises GraderError (one line) and leaves
    nothing behind when any of it is wrong."""
    canvas_rows = canvas.read_roster(roster) if roster else None
    listed = read_roster(roster) if roster else None
    notes, staged, folder = [], None, Path(submissions_path)
    from_zip = folder.suffix.lower() == ".zip"
    if from_zip:
        staged = Path(tempfile.mkdtemp(prefix="autograder-zip-"))
        try:
            skip = canvas.test_student_ids(roster) if roster else set()
            notes += [f"note: {p}" for p in canvas.unpack(folder, staged / "unpacked",
                                                          canvas_rows, skip)]
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        folder = staged / "unpacked"
    intake = Intake({}, [], canvas_rows, None, notes, staged, from_zip)
    try:
        found = discover(folder, assignment.name, assignment.notebook.name)
        matching.check_batch(found, assignment, submissions_path)
        intake.submissions, intake.ids = _join_roster(found, listed, notes)
        intake.policy = load_policy(late_file) if late_file else None
    except BaseException:
        intake.discard()
        raise
    return intake


def _join_roster(found, listed, notes):
    """({student id: Submission}, ids in order): submissions keyed by the roster's
    spelling of their id where it differs only in case."""
    if listed is None:
        return found, list(found)
    by_fold = {sid.casefold(): sid for sid in listed}
    submissions = {}
    for sid, submission in found.items():
        name = sid if sid in listed else by_fold.get(sid.casefold(), sid)
        if name != sid:
            notes.append(f"note: submission '{sid}' graded as '{name}', the roster's "
                         "spelling of the same id")
        submissions[name] = _renamed(submission, name)
    extra = [sid for sid in submissions if sid not in listed]
    notes += [f"note: {sid} submitted but is not on the roster; graded anyway"
              for sid in extra]
    return submissions, listed + extra


def _renamed(submission, student_id):
    submission.original_id = submission.original_id or submission.student_id
    submission.student_id = student_id
    return submission
