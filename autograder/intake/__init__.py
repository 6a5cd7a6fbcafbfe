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

Each student's submission is then read once into a :class:`StudentRecord` (see
autograder.intake.records): the later stages never open a submission to decide anything.

Ids that differ only in case between the roster and the submissions are one student:
the roster's spelling is used, and a note says so. Course ids (Canvas logins, nbgrader
user names, e-mail addresses) do not tell students apart by case, and a folder copied
through a case-insensitive file system (macOS, Windows) cannot keep two of them anyway.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.assignment import Assignment
from autograder.course.matching import check_batch
from autograder.intake.late import LatePolicy, load_policy
from autograder.intake.records import RecordMaker, StudentRecord
from autograder.intake.sources import Submission, discover, read_roster, read_roster_text
from autograder.lms import canvas


@dataclass
class Intake:
    """A batch's input: who is in it, each student's record, and the late-work policy."""

    records: dict[str, StudentRecord]  # every student of the batch, roster order first
    canvas_rows: list[dict] | None  # the Canvas roster's rows, when it is one
    policy: LatePolicy | None
    notes: list[str] = field(default_factory=list)  # one line each, shown once grading starts
    staged: Path | None = None  # a Canvas zip unpacked here, until kept
    from_zip: bool = False

    @property
    def ids(self) -> list[str]:
        return list(self.records)

    def keep(self, folder: Path) -> None:
        """Move a staged Canvas zip's notebooks to ``folder`` (the course's copy), and point
        the records at them there."""
        if self.staged is None:
            return
        folder = Path(folder)
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        unpacked = self.staged / "unpacked"
        shutil.move(str(unpacked), str(folder))  # keeps the file times
        shutil.rmtree(self.staged, ignore_errors=True)
        self.staged = None
        for record in self.records.values():
            if record.notebook is not None:
                record.notebook = folder / record.notebook.relative_to(unpacked)

    def discard(self) -> None:
        if self.staged is not None:
            shutil.rmtree(self.staged, ignore_errors=True)
            self.staged = None


def read_input(assignment: Assignment, submissions_path: str | Path,
               roster: str | Path | None = None,
               late_file: str | Path | None = None) -> Intake:
    """Read and check everything a batch needs; raises GraderError (one line) and leaves
    nothing behind when any of it is wrong."""
    canvas_rows, listed, skip = None, None, set()
    if roster:  # read and parsed once: a Canvas export, else a student_id column
        text = read_roster_text(roster)
        split = canvas.split_roster(roster, text)
        if split is not None:
            canvas_rows, skip = split
            listed = [canvas.student_id(r) for r in canvas_rows]
        else:
            listed = read_roster(roster, text)
    # absolute: the class record keeps these paths for commands run from elsewhere
    notes, staged, folder = [], None, Path(submissions_path).resolve()
    from_zip = folder.suffix.lower() == ".zip"
    if from_zip:
        staged = Path(tempfile.mkdtemp(prefix="autograder-zip-"))
        try:
            notes += [f"note: {p}" for p in canvas.unpack(folder, staged / "unpacked",
                                                          canvas_rows, skip)]
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        folder = staged / "unpacked"
    intake = Intake({}, canvas_rows, None, notes, staged, from_zip)
    try:
        found = discover(folder, assignment.name, assignment.notebook.name)
        submissions, ids = _join_roster(found, listed, notes)
        maker = RecordMaker(assignment)
        records = {sid: maker.record(sid, submissions[sid]) if sid in submissions
                   else maker.missing(sid) for sid in ids}
        check_batch({sid: r.kinds for sid, r in records.items() if r.submitted},
                    assignment, submissions_path)
        intake.records = records
        intake.policy = load_policy(late_file) if late_file else None
    except BaseException:
        intake.discard()
        raise
    return intake


def _join_roster(found: dict[str, Submission], listed: list[str] | None,
                 notes: list[str]) -> tuple[dict[str, Submission], list[str]]:
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
        submissions[name] = submission
    extra = [sid for sid in submissions if sid not in listed]
    notes += [f"note: {sid} submitted but is not on the roster; graded anyway"
              for sid in extra]
    return submissions, listed + extra
