"""``autograder grade``: a whole class, in parallel, resumable, in five steps.

1. **intake**: read the submissions, roster and late policy, and build each student's
   record once; anything wrong stops the batch before a file is written
   (autograder.intake);
2. **plan**: what must be graded, given the results saved before (autograder.plan);
3. **run**: the jobs on local threads or a Dask cluster, each submission in its own
   sandbox (autograder.run);
4. **record**: each result committed as it arrives, by this thread alone: gradebook row,
   saved result, feedback page (autograder.record);
5. **publish**: grades.csv, the Canvas file, the feedback and the report, whole, at the end
   (autograder.publish; ``autograder publish`` runs this step alone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autograder.course import assignment as assignments
from autograder.course.assignment import Assignment
from autograder.errors import GraderError
from autograder.files import write_atomically
from autograder.intake import Intake, read_input
from autograder.lock import course_lock
from autograder.plan import ForcedRegrade, Plan, make_plan
from autograder.publish import Published, feedback_page, lateness_of, policy_file, publish
from autograder.record import Recorder, classlist, handscores
from autograder.record.gradebook import CourseGradebook
from autograder.record.results import (
    ResultStore,
    checks_fingerprint,
    load_reference,
    save_reference,
    secret_seed,
)
from autograder.run import Job, run_jobs
from autograder.run import sandbox as sandboxes
from autograder.run.grading import Reference, SubmissionResult, case_inputs, library_packages
from autograder.run.grading import run_reference as run_reference_answer
from autograder.run.local import LocalRunner, default_workers


@dataclass
class BatchOutcome:
    assignment: str
    out_dir: Path
    csv_path: Path
    db_url: str
    results: list[SubmissionResult]  # in roster order
    sandbox: str
    graded: int  # graded in this run
    reused: int  # saved results reused (same submission, same checks)
    workers: int
    published: Published | None = None


def grade_batch(name, submissions_dir, course_dir, checks_root, roster=None, db_url=None,
                sandboxed=True, echo=print, progress=True, workers=None, force=False,
                scheduler=None, late_config=None, canvas_column=None) -> BatchOutcome:
    """Grade a folder (or Canvas zip) of submissions into ``course_dir``, holding the
    course folder's lock (autograder.lock) for the whole run."""
    a = assignments.load(name, checks_root)
    if sandboxed and scheduler is None:
        sandboxes.require_sandbox()  # one line, before anything is written
    out_dir = Path(course_dir).resolve() / a.name
    late_file = policy_file(out_dir, late_config)
    # 1. intake: everything read and checked first, so wrong input is refused before
    # anything is written (the course folder and its lock included).
    intake = read_input(a, submissions_dir, roster, late_file)
    try:
        with course_lock(course_dir, f"grade {a.name}", echo):
            batch = _Batch(a, intake, out_dir, course_dir, echo, progress, sandboxed)
            return batch.grade(submissions_dir, roster, db_url, workers, force, scheduler,
                               late_config, late_file, canvas_column)
    finally:
        intake.discard()


class _Batch:
    def __init__(self, a: Assignment, intake: Intake, out_dir: Path, course_dir, echo,
                 progress: bool, sandboxed: bool) -> None:
        self.a, self.intake, self.out_dir = a, intake, out_dir
        self.course_dir, self.echo, self.progress = course_dir, echo, progress
        self.sandboxed = sandboxed
        self.mode = "bubblewrap" if sandboxed else "none"

    def grade(self, submissions_dir, roster, db_url, workers, force, scheduler, late_config,
              late_file, canvas_column) -> BatchOutcome:
        a, intake, out_dir, echo = self.a, self.intake, self.out_dir, self.echo
        default_db = f"sqlite:///{Path(self.course_dir).resolve() / 'gradebook.db'}"
        db_url = db_url or default_db
        (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
        intake.keep(out_dir / "canvas-submissions")
        for line in intake.notes:
            echo(line)
        notebooks = out_dir / "canvas-submissions" if intake.from_zip else submissions_dir
        options = self._options(submissions_dir, roster, db_url, default_db, late_config,
                                canvas_column)
        record = classlist.ClassRecord(
            a.name, intake.records, db_url, self.sandboxed,
            str(late_file) if late_file else None, intake.canvas_rows, canvas_column,
            str(Path(submissions_dir).resolve()), str(Path(notebooks).resolve()), options)
        classlist.save(out_dir, record)
        self._note_file_times()

        # 2. plan
        seed = secret_seed(out_dir / "secret-seed")
        inputs = case_inputs(a, seed)
        fingerprint = checks_fingerprint(a, seed, library_packages(a))
        store = ResultStore(out_dir / "results", fingerprint, self.mode)
        forced = ForcedRegrade(out_dir, force)
        plan = make_plan(intake.records, a, store, force, forced.since)
        if plan.other_mode:
            before, now = (("without a sandbox", "in the sandbox") if self.sandboxed
                           else ("in the sandbox", "without one (--no-sandbox)"))
            echo(f"note: {len(plan.other_mode)} saved result(s) were graded {before}: "
                 f"regraded now {now}")
        workers = max(1, workers or default_workers())
        reference = None
        if plan.jobs:
            reference = self._reference(inputs, fingerprint, force, scheduler)
            where = f"on the Dask cluster at {scheduler}" if scheduler else \
                f"with {min(workers, len(plan.jobs))} worker(s)"
            echo(plan.first_line(where))

        lateness = lateness_of(intake.records, intake.policy)
        with CourseGradebook(db_url, a) as gradebook:
            gradebook.set_due_date(intake.policy.due if intake.policy else None)
            entered = handscores.entered(out_dir, gradebook.hand_scores)

            def on_commit(result: SubmissionResult, manual: dict) -> None:
                sid = result.student_id
                feedback_page(out_dir, result, a, manual, lateness[sid], intake.records[sid])
                if result.status != "ok" or result.notes:
                    first = result.notes[0] if result.notes else ""
                    # through tqdm while a bar is drawn
                    (tqdm.write if self.progress else echo)(
                        f"{sid}: {result.status} ({result.auto_total:g}/"
                        f"{a.auto_points:g}) {first}")

            # 4. record (each result as it arrives), 3. run
            recorder = Recorder(gradebook, store, intake.records, lateness, entered,
                                on_commit)
            for sid in intake.ids:
                if sid in plan.known:
                    recorder.commit(plan.known[sid])
            if plan.jobs:
                run_jobs(plan.jobs, lambda: self._runner(plan, reference, inputs, workers,
                                                         scheduler, fingerprint),
                         lambda job, result: recorder.commit(result, job.digest),
                         f"grading {a.name}", self.progress, force)
            forced.finished()
            if recorder.repaired:
                echo(_repair_line(recorder.repaired, out_dir))
            # 5. publish
            published = publish(out_dir, a, record, recorder.results, gradebook,
                                intake.policy)
        ordered = [recorder.results[sid] for sid in intake.ids]
        if reference is not None:
            self._write_timings(reference, ordered)
        return BatchOutcome(a.name, out_dir, published.csv_path, db_url, ordered,
                            _sandbox_of(ordered, self.sandboxed), graded=len(plan.jobs),
                            reused=plan.reused,
                            workers=min(workers, len(plan.jobs) or 1), published=published)

    def _options(self, submissions_dir, roster, db_url, default_db, late_config,
                 canvas_column) -> dict:
        """This run's options that shape grades.csv; one line if it leaves out one the
        last run of the set had (see warn_fewer_options)."""
        options = {"submissions": str(Path(submissions_dir).resolve()),
                   "roster": str(Path(roster).resolve()) if roster else None,
                   "db_url": db_url, "late_config": str(Path(late_config).resolve())
                   if late_config else None, "canvas_column": canvas_column,
                   "sandboxed": bool(self.sandboxed)}
        try:
            previous = classlist.load(self.out_dir).options
        except GraderError:
            previous = None
        warn_fewer_options(previous, options, self.a.name, self.echo, default_db)
        return options

    def _note_file_times(self) -> None:
        intake = self.intake
        from_files = sum(1 for r in intake.records.values() if r.time_source == "file time")
        if intake.policy is not None and from_files and not intake.from_zip:
            self.echo(f"note: the submission times of {from_files} student(s) are their "
                      "notebook files' modification times (no nbgrader timestamp.txt beside "
                      "them): a copy that does not keep times (cp without -p, a download) "
                      "changes them; check the late penalties")

    def _reference(self, inputs, fingerprint, force, scheduler) -> Reference:
        reference = None if force else load_reference(self.out_dir / "reference",
                                                      fingerprint, self.mode)
        if reference is None:
            self.echo(f"Running the reference answer of {self.a.name} ...")
            # The reference answer is trusted; it runs in the mode the submissions will, so
            # the CPU limits derived from its time fit them. On a Dask cluster this machine
            # need not have a sandbox: the workers do.
            reference = run_reference_answer(self.a, inputs, sandboxed=self.sandboxed and (
                scheduler is None or sandboxes.sandbox_mode() != "none"))
            save_reference(self.out_dir / "reference", fingerprint, reference, self.mode)
        return reference

    def _runner(self, plan: Plan, reference, inputs, workers, scheduler, fingerprint):
        if scheduler:
            from autograder.run.cluster import DaskRunner

            return DaskRunner(plan.jobs, self.a, reference, inputs, scheduler, fingerprint,
                              self.sandboxed)
        return LocalRunner(plan.jobs, self.a, reference, inputs, self.sandboxed,
                           min(workers, len(plan.jobs)))

    def _write_timings(self, reference: Reference, ordered: list[SubmissionResult]) -> None:
        """reference.json: the reference's CPU times, the limits and each run's time."""
        write_atomically(self.out_dir / "reference.json", json.dumps({
            "cpu_cells": reference.cpu_cells, "cpu_parts": reference.cpu_parts,
            "limits": {"cell_seconds": reference.limits.cell_seconds,
                       "part_seconds": reference.limits.part_seconds},
            "wall_seconds": {r.student_id: round(r.wall_seconds, 3) for r in ordered},
        }, indent=1))


# Options of `grade` that change grades.csv; a re-run without one of them says so.
OPTIONS = {"roster": "--roster", "late_config": "--late-config",
           "canvas_column": "--canvas-column", "db_url": "--db"}


def warn_fewer_options(previous, current, assignment, echo, default_db=None) -> None:
    """One line if this ``grade`` run leaves out an option the last run of the set had
    (a roster, a late policy, a Canvas column, a gradebook given with --db): the run is not
    stopped, since leaving an option out may be meant, but grades.csv will differ from the
    last one. ``default_db``: the gradebook used when --db is not given."""
    if not previous:
        return
    missing = [f"{flag} {previous[key]}" for key, flag in OPTIONS.items()
               if key != "db_url" and previous.get(key) and not current.get(key)]
    if previous.get("db_url") not in (None, current.get("db_url")) and \
            current.get("db_url") == default_db:
        missing.append(f"--db {previous['db_url']}")
    if missing:
        echo(f"warning: the last grade run of {assignment} used {'; '.join(missing)}; "
             "this one does not, so its grades.csv, feedback and report are written "
             "without them")


def _sandbox_of(results: list[SubmissionResult], sandboxed: bool) -> str:
    from autograder.publish import sandbox_name

    return sandbox_name(results, sandboxed)


def _repair_line(repaired, out_dir) -> str:
    """One line for hand scores the gradebook had lost or that something else wrote."""
    sid, gid, was, now = repaired[0]
    shown = "none" if was is None else f"{was:g}"
    entered = "none" if now is None else f"{now:g}"
    return (f"warning: {len(repaired)} hand score(s) in the gradebook differed from those "
            f"entered with `autograder review import` (e.g. {sid} {gid}: {shown} in the "
            f"gradebook, {entered} entered) and were put back as entered "
            f"({handscores.journal_path(out_dir)}); something other than autograder "
            "changed the gradebook")


__all__ = ["BatchOutcome", "Job", "grade_batch"]
