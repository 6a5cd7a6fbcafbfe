"""Publishing a set's grades: grades.csv, the LMS file, feedback pages and the report.

Everything here is computed from the class record (autograder.record.classlist), the
results (in memory after a batch, or the saved ones) and the gradebook's hand scores, and
the late policy read afresh: so the same step runs at the end of ``autograder grade`` and
on its own (``autograder publish``, ``review import``), where a new hand score or an edited
late policy is published without opening a submission or starting a sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autograder import lms
from autograder.course.answers import answer_code, scaffold_lines
from autograder.course.assignment import Assignment
from autograder.course.notebooks import read_notebook
from autograder.errors import GraderError
from autograder.files import write_atomically, write_csv
from autograder.intake.late import Lateness, LatePolicy, assess, load_policy
from autograder.intake.records import StudentRecord
from autograder.publish import feedback, report
from autograder.publish.grades import csv_columns, csv_row
from autograder.record import classlist
from autograder.record.gradebook import CourseGradebook
from autograder.record.results import ResultStore, checks_fingerprint, secret_seed
from autograder.run.grading import SubmissionResult, library_packages, missing_result, not_graded
from autograder.run.sandbox import SANDBOX_NAMES
from autograder.status import Status


@dataclass
class Published:
    csv_path: Path
    feedback_dir: Path
    report_path: Path
    canvas_path: Path | None
    rows: list[dict]
    notes: list[str] = field(default_factory=list)  # one line each, for the instructor


def lateness_of(records: dict[str, StudentRecord],
                policy: LatePolicy | None) -> dict[str, Lateness]:
    return {sid: assess(policy, sid, r.submitted_at) for sid, r in records.items()}


def feedback_page(out_dir: Path, result: SubmissionResult, assignment: Assignment,
                  manual: dict, late: Lateness, record: StudentRecord) -> Path:
    """Write one student's feedback page (atomically), as soon as they are graded."""
    page = feedback.render(result, assignment, manual, late, unanswered=record.unanswered)
    return write_atomically(Path(out_dir) / "feedback" / f"{result.student_id}.html", page)


def sandbox_name(results: list[SubmissionResult], sandboxed: bool) -> str:
    """How the batch's code ran, in words: every result was graded in the batch's mode
    (saved ones from another mode are regraded), so one name describes them all."""
    return next((r.sandbox for r in results if r.sandbox), "") or \
        ("bubblewrap" if sandboxed else SANDBOX_NAMES["none"])


def publish(out_dir: Path, assignment: Assignment, record: classlist.ClassRecord,
            results: dict[str, SubmissionResult], gradebook: CourseGradebook,
            policy: LatePolicy | None) -> Published:
    """Write grades.csv, the Canvas file (with a Canvas roster or column), every feedback
    page and the report. ``gradebook``: open, for the hand scores."""
    out_dir = Path(out_dir)
    lateness = lateness_of(record.records, policy)
    rows, pages = [], {}
    for sid, student in record.records.items():
        result = results[sid]
        manual = gradebook.manual_scores(sid) if result.status != Status.MISSING else {}
        rows.append(csv_row(result, assignment, manual, lateness[sid].fraction))
        pages[sid] = feedback.render(result, assignment, manual, lateness[sid],
                                     unanswered=student.unanswered)
        write_atomically(out_dir / "feedback" / f"{sid}.html", pages[sid])
    csv_path = write_csv(out_dir / "grades.csv", csv_columns(assignment), rows)
    ordered = [results[sid] for sid in record.records]
    by_student = {r["student_id"]: r for r in rows}
    given = scaffold_lines(assignment.notebook)
    page = report.render(
        assignment, ordered, by_student, lateness,
        {sid: s.answer_code for sid, s in record.records.items() if s.gradable},
        sandbox_name(ordered, record.sandboxed),
        reference_code=answer_code(read_notebook(assignment.notebook), given))
    report_path = write_atomically(out_dir / "report.html", page)
    batch = lms.Batch(out_dir, assignment, record, results, by_student, pages)
    adapters = lms.adapters_for(record)
    notes = [line for adapter in adapters for line in adapter.publish(batch)]
    canvas = any(isinstance(adapter, lms.CanvasGrades) for adapter in adapters)
    return Published(csv_path, out_dir / "feedback", report_path,
                     out_dir / "canvas_grades.csv" if canvas else None, rows, notes)


def saved_results(out_dir: Path, assignment: Assignment, record: classlist.ClassRecord,
                  notes: list[str] | None = None) -> dict[str, SubmissionResult]:
    """Every student's result as the last batch left it: decided from the record (missing,
    nothing to grade) or saved (graded from the same bytes; a line in ``notes`` counts those
    graded under other checks than today's, which `grade` would regrade). GraderError,
    naming them, when some student has no such result (an interrupted batch): nothing is
    published then."""
    out_dir = Path(out_dir)
    seed = secret_seed(out_dir / "secret-seed")
    store = ResultStore(out_dir / "results",
                        checks_fingerprint(assignment, seed, library_packages(assignment)),
                        "bubblewrap" if record.sandboxed else "none")
    results, stale = {}, []
    for sid, student in record.records.items():
        if not student.submitted:
            results[sid] = missing_result(sid, assignment)
        elif not student.gradable:
            results[sid] = not_graded(sid, assignment, student.status or Status.NO_NOTEBOOK,
                                      student.problem)
        elif (saved := store.load(sid, student.digest, same_checks=False)) is not None:
            results[sid] = saved
        else:
            stale.append(sid)
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        raise GraderError(f"{len(stale)} student(s) of {assignment.name} have no saved "
                          f"result ({shown}): the last batch was interrupted; run "
                          "`autograder grade` again first")
    if store.outdated and notes is not None:
        notes.append(f"note: {len(store.outdated)} result(s) were graded under other checks "
                     "(or grader, or sandbox mode) than today's and are published as graded; "
                     "`autograder grade` regrades them")
    return results


def policy_file(out_dir: Path, late_config: str | Path | None) -> Path | None:
    """The late policy of a run: the one given, else ``<set>/late.toml`` if it exists."""
    if late_config:
        return Path(late_config).resolve()
    default = Path(out_dir) / "late.toml"
    return default if default.is_file() else None


def republish(out_dir: Path, assignment: Assignment,
              late_config: str | Path | None = None) -> Published:
    """Publish the set's last batch again from what is saved: the gradebook's current hand
    scores, the late policy as it is now (``late_config``, else the one the batch used,
    else ``<set>/late.toml``). No submission is read and no code is run. The gradebook's
    due date and late penalties are updated to the policy, as a batch would."""
    record = classlist.load(out_dir)
    notes: list[str] = []
    results = saved_results(out_dir, assignment, record, notes)
    if late_config:
        late = policy_file(out_dir, late_config)
    elif record.late_file and Path(record.late_file).is_file():
        late = Path(record.late_file)
    elif record.late_file and Path(record.late_file) != Path(out_dir) / "late.toml":
        raise GraderError(f"the late policy {record.late_file} that the last grade run of "
                          f"{assignment.name} used is gone: give --late-config, or grade "
                          "the set again")
    else:
        late = policy_file(out_dir, None)
    policy = load_policy(late) if late else None
    lateness = lateness_of(record.records, policy)
    with CourseGradebook(record.db_url, assignment) as gradebook:
        gradebook.set_due_date(policy.due if policy else None)
        for sid, result in results.items():
            if result.status != Status.MISSING:
                gradebook.set_late_penalty(result, lateness[sid].fraction)
        published = publish(out_dir, assignment, record, results, gradebook, policy)
    published.notes[:0] = notes
    return published
