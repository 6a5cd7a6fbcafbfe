"""One record per student, built once at intake: everything later stages need to know
about a submission without opening it again.

Each candidate notebook of a student is read from disk once and parsed once; from that
one read come the choice of notebook (autograder.course.matching.pick) and why, the
chosen file's digest (what a saved result is keyed by), its submission time, the
hand-graded cells left unanswered, the answer code the report compares, and which set
each notebook resembles (so a batch of the wrong set is refused before anything is
written). The record is plain data: the class record (autograder.record.classlist)
saves it, so the pages can be published again without reading any submission.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from autograder.course.answers import answer_code, questions, scaffold_lines, unanswered
from autograder.course.assignment import Assignment
from autograder.course.matching import pick, resembles
from autograder.course.notebooks import parse_notebook, read_notebook_bytes
from autograder.errors import SubmissionError, printable
from autograder.intake.late import submission_time
from autograder.intake.sources import Submission
from autograder.status import Status


@dataclass
class StudentRecord:
    """What the intake found for one student of the batch."""

    student_id: str
    submitted: bool = False  # anything handed in at all (False: on the roster only)
    notebook: Path | None = None  # the notebook to grade
    note: str | None = None  # why that one, when there was a choice (shown to the student)
    status: str = ""  # a Status when nothing can be graded (no-notebook, grader-error)
    problem: str = ""  # ... and why, in one line
    digest: str = ""  # SHA-256 of the chosen notebook's bytes
    submitted_at: datetime | None = None
    time_source: str = ""  # "nbgrader timestamp.txt", "file time", ... (autograder.late)
    unanswered: frozenset[str] = frozenset()  # hand-graded cells left as released
    answer_code: str = ""  # the code the student wrote, for the report's comparison
    kinds: list[str | None] = field(default_factory=list)  # set each notebook resembles

    @property
    def gradable(self) -> bool:
        return self.notebook is not None and not self.status

    def to_json(self) -> dict:
        return {"student_id": self.student_id, "submitted": self.submitted,
                "notebook": str(self.notebook) if self.notebook else None,
                "note": self.note, "status": self.status, "problem": self.problem,
                "digest": self.digest,
                "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
                "time_source": self.time_source, "unanswered": sorted(self.unanswered),
                "answer_code": self.answer_code}

    @classmethod
    def from_json(cls, data: dict) -> StudentRecord:
        return cls(student_id=data["student_id"], submitted=data["submitted"],
                   notebook=Path(data["notebook"]) if data["notebook"] else None,
                   note=data["note"], status=data["status"], problem=data["problem"],
                   digest=data["digest"],
                   submitted_at=datetime.fromisoformat(data["submitted_at"])
                   if data["submitted_at"] else None,
                   time_source=data["time_source"],
                   unanswered=frozenset(data["unanswered"]),
                   answer_code=data["answer_code"])


class _Files:
    """A student's candidate files, each read once: {path: (bytes or None, notebook data
    or the SubmissionError that parsing it raised)}."""

    def __init__(self) -> None:
        self.read: dict[Path, tuple[bytes | None, dict | SubmissionError]] = {}

    def notebook(self, path: Path) -> dict:
        if path not in self.read:
            try:
                data = read_notebook_bytes(path)
            except SubmissionError as exc:
                self.read[path] = (None, exc)
            else:
                try:
                    self.read[path] = (data, parse_notebook(data, path.name))
                except SubmissionError as exc:
                    self.read[path] = (data, exc)
        found = self.read[path][1]
        if isinstance(found, SubmissionError):
            raise found
        return found


class RecordMaker:
    """Builds records for one assignment (its questions and scaffold read once)."""

    def __init__(self, assignment: Assignment) -> None:
        self.assignment = assignment
        self.asked = questions(assignment)
        self.given = scaffold_lines(assignment.notebook)

    def missing(self, student_id: str) -> StudentRecord:
        return StudentRecord(student_id, unanswered=frozenset(self.assignment.manual))

    def record(self, student_id: str, submission: Submission) -> StudentRecord:
        """The record of one student's submission. Whatever its files hold, it never
        raises: a grader bug one file meets becomes that student's grader-error."""
        record = StudentRecord(student_id, submitted=True)
        files = _Files()
        try:
            self._fill(record, submission, files)
        except SubmissionError as exc:
            record.status, record.problem = exc.status, printable(exc.message)
        except Exception as exc:  # noqa: BLE001 - one student's file never stops the batch
            record.status = Status.GRADER_ERROR
            record.problem = printable(f"the grader could not read this submission "
                                       f"({type(exc).__name__}: {exc})")
        if not record.gradable:
            record.unanswered = frozenset(self.assignment.manual)
        return record

    def _fill(self, record: StudentRecord, submission: Submission, files: _Files) -> None:
        a = self.assignment
        for path in submission.candidates:
            try:
                record.kinds.append(resembles(files.notebook(path), a))
            except SubmissionError:
                continue
        if submission.candidates:
            # the time of what was handed in, even when no notebook of it can be graded
            record.submitted_at, record.time_source = submission_time(
                submission.candidates[0])
        path, record.note = pick(submission, a, read=files.notebook)
        record.notebook = path
        record.submitted_at, record.time_source = submission_time(path)
        data, nb = files.read.get(path, (None, None))
        if data is None:  # unreadable: graded (as corrupt) from what the file says then
            try:
                data = path.read_bytes()
            except OSError as exc:
                data = f"unreadable: {exc}".encode()
        record.digest = hashlib.sha256(data).hexdigest()
        nb = None if isinstance(nb, SubmissionError) else nb
        record.unanswered = frozenset(unanswered(nb, a, self.asked))
        record.answer_code = answer_code(nb, self.given)
