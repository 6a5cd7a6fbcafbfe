"""``autograder grade``: a whole class, in parallel, resumable.

Workers (threads: the work itself happens in sandboxed processes) grade submissions and
return results as data; only the main thread writes, one student at a time: the
gradebook row, the saved result (``results/<student>.json``, the mark that the student is
done) and the feedback page. nbgrader's SQLite gradebook so never sees two writers, and an
interrupted batch loses no student whose result was written. ``grades.csv`` is written
once, at the end, whole.
"""

import json
import os
import secrets
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autograder.course import assignment as assignments
from autograder.course import matching
from autograder.course.answers import questions, unanswered
from autograder.errors import BatchInterruptedError, GraderError, SubmissionError, printable
from autograder.intake import read_input
from autograder.intake.late import assess, submission_time
from autograder.lms import canvas
from autograder.lock import course_lock
from autograder.publish import feedback, report
from autograder.record import handscores
from autograder.record.gradebook import CourseGradebook, csv_columns, csv_row, write_csv_atomically
from autograder.record.results import (
    ResultStore,
    checks_fingerprint,
    file_digest,
    load_reference,
    save_reference,
)
from autograder.review import load_last_run, save_last_run, warn_fewer_options
from autograder.run import sandbox as sandboxes
from autograder.run.grading import (
    case_inputs,
    grade_notebook,
    library_packages,
    missing_result,
    run_reference,
)
from autograder.run.sandbox import SANDBOX_NAMES, kill_all_running


@dataclass
class BatchOutcome:
    assignment: str
    out_dir: Path
    csv_path: Path
    db_url: str
    results: list  # [SubmissionResult], in roster order
    sandbox: str
    graded: int  # graded in this run
    reused: int  # saved results reused (same submission, same checks)
    workers: int


def secret_seed(path):
    """The assignment's secret seed, created once and kept, so regrading is repeatable."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{secrets.randbits(63)}\n")
        path.chmod(0o600)
    return int(path.read_text().strip())


def pick_notebook(submission, assignment):
    """(path, note) of the notebook to grade (see autograder.course.matching.pick); raises
    SubmissionError if there is none. Whatever a notebook holds, nothing else escapes: a
    grader bug it meets costs only that student."""
    try:
        return matching.pick(submission, assignment)
    except SubmissionError:
        raise
    except Exception as exc:  # noqa: BLE001 - one student's file never stops the batch
        raise SubmissionError("grader-error", "the grader could not read this submission "
                              f"({type(exc).__name__}: {exc})") from exc


def _submitted_at(submission, assignment):
    """(when a submission was handed in, where that time came from), see autograder.intake.late;
    (None, "") when unknown."""
    if submission is None or not submission.candidates:
        return None, ""
    try:
        path, _ = pick_notebook(submission, assignment)
    except SubmissionError:
        path = submission.candidates[0]
    return submission_time(path)


def _write_report(out_dir, a, ordered, rows, lateness, submissions, sandbox):
    """report.html: plots, who needs attention, near-identical answers."""
    given = report.scaffold_lines(a.notebook)
    codes = {}
    for sid, submission in submissions.items():
        try:
            path, _ = pick_notebook(submission, a)
        except SubmissionError:
            continue
        codes[sid] = report.answer_code(path, given)
    page = report.render(a, ordered, {r["student_id"]: r for r in rows}, lateness, codes,
                         sandbox, reference_code=report.answer_code(a.notebook, given))
    feedback.write(out_dir / "report.html", page)


def default_workers():
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


@dataclass
class _Job:
    student_id: str
    path: Path
    note: str | None
    digest: str


def _plan(ids, submissions, a, store, force, not_before=0.0):
    """Split the class into results known now (missing, no notebook, saved and unchanged)
    and jobs to grade; a saved result from before ``not_before`` is regraded. Returns
    (known {student: result}, jobs, number of saved results reused, {student: the
    notebook graded, or None})."""
    known, jobs, reused, paths = {}, [], 0, {}
    for sid in ids:
        submission = submissions.get(sid)
        paths[sid] = None
        if submission is None:
            known[sid] = missing_result(sid, a)
            continue
        try:
            path, note = pick_notebook(submission, a)
            paths[sid] = path
            digest = file_digest(path)
        except SubmissionError as exc:
            result = missing_result(sid, a)
            result.status, result.notes = exc.status, [printable(exc.message)]
            known[sid] = result
            continue
        except OSError as exc:
            digest, path, note = f"unreadable: {exc}", submission.candidates[0], None
            paths[sid] = path
        saved = None if force else store.load(sid, digest, not_before)
        if saved is not None:
            known[sid] = saved
            reused += 1
        else:
            jobs.append(_Job(sid, path, note, digest))
    return known, jobs, reused, paths


class _Slots:
    """Worker slot numbers (each slot's sandbox runs as its own uid)."""

    def __init__(self, n):
        self._free = list(range(n))
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            return self._free.pop()

    def give(self, slot):
        with self._lock:
            self._free.append(slot)


def grade_batch(name, submissions_dir, course_dir, checks_root, roster=None, db_url=None,
                sandboxed=True, echo=print, progress=True, workers=None, force=False,
                scheduler=None, late_config=None, canvas_column=None):
    """Grade a folder (or Canvas zip) of submissions into ``course_dir``, holding the
    course folder's lock (autograder.lock) for the whole run."""
    a = assignments.load(name, checks_root)
    if sandboxed and scheduler is None:
        sandboxes.require_sandbox()  # one line, before anything is written
    out_dir = Path(course_dir).resolve() / a.name
    late_file = Path(late_config) if late_config else out_dir / "late.toml"
    # Everything read and checked first: wrong input is refused before anything is
    # written (the course folder and its lock included).
    intake = read_input(a, submissions_dir, roster,
                        late_file if late_config or late_file.is_file() else None)
    try:
        with course_lock(course_dir, f"grade {a.name}", echo):
            return _grade_batch(a, intake, submissions_dir, course_dir, roster, db_url,
                                sandboxed, echo, progress, workers, force, scheduler,
                                late_config, canvas_column)
    finally:
        intake.discard()


def _repair_line(repaired, out_dir):
    """One line for hand scores the gradebook had lost or that something else wrote."""
    sid, gid, was, now = repaired[0]
    shown = "none" if was is None else f"{was:g}"
    entered = "none" if now is None else f"{now:g}"
    return (f"warning: {len(repaired)} hand score(s) in the gradebook differed from those "
            f"entered with `autograder review import` (e.g. {sid} {gid}: {shown} in the "
            f"gradebook, {entered} entered) and were put back as entered "
            f"({handscores.journal_path(out_dir)}); something other than autograder "
            "changed the gradebook")


class _ForcedRegrade:
    """A ``--force`` run that has not finished yet: ``regrade-since`` in the assignment's
    folder holds when it started, and every run (with or without ``--force``) regrades the
    results saved before then, so Ctrl-C after ``--force`` and a plain re-run finish the
    regrade without redoing the students it already regraded."""

    def __init__(self, out_dir, force):
        from autograder.record.results import write_atomically

        self.path = Path(out_dir) / "regrade-since"
        try:
            self.since = float(self.path.read_text())
        except (OSError, ValueError):
            self.since = 0.0
        if force and not self.since:
            self.since = time.time()
            write_atomically(self.path, f"{self.since!r}\n".encode())

    def finished(self):
        self.path.unlink(missing_ok=True)


def _first_line(known, jobs, reused, where):
    """'Grading 13 submission(s) with 2 worker(s); 5 unchanged since the last run, 1
    without a notebook': only what is true of this run."""
    others = [f"{reused} unchanged since the last run" if reused else "",
              f"{len(known) - reused} without a notebook" if len(known) > reused else ""]
    tail = ", ".join(o for o in others if o)
    return f"Grading {len(jobs)} submission(s) {where}" + (f"; {tail}" if tail else "")


def _grade_batch(a, intake, submissions_dir, course_dir, roster, db_url, sandboxed, echo,
                 progress, workers, force, scheduler, late_config, canvas_column):
    mode = "bubblewrap" if sandboxed else "none"
    out_dir = Path(course_dir).resolve() / a.name
    default_db = f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}"
    db_url = db_url or default_db
    run_arguments = {"submissions": str(Path(submissions_dir).resolve()),
                     "roster": str(Path(roster).resolve()) if roster else None,
                     "db_url": db_url, "late_config": str(Path(late_config).resolve())
                     if late_config else None, "canvas_column": canvas_column,
                     "sandboxed": bool(sandboxed)}
    (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
    intake.keep(out_dir / "canvas-submissions", a)
    for line in intake.notes:
        echo(line)
    submissions, ids, canvas_rows = intake.submissions, intake.ids, intake.canvas_rows
    policy = intake.policy
    notebooks = out_dir / "canvas-submissions" if intake.from_zip else submissions_dir
    try:
        previous = load_last_run(out_dir)
    except GraderError:
        previous = None
    warn_fewer_options(previous, run_arguments, a.name, echo, default_db)
    save_last_run(out_dir, notebooks=str(Path(notebooks).resolve()), **run_arguments)
    workers = max(1, workers or default_workers())
    stamped = {sid: _submitted_at(submissions.get(sid), a) for sid in ids}
    times = {sid: when for sid, (when, _) in stamped.items()}
    lateness = {sid: assess(policy, sid, times[sid]) for sid in ids}
    from_files = sum(1 for _, source in stamped.values() if source == "file time")
    if policy is not None and from_files and not intake.from_zip:
        echo(f"note: the submission times of {from_files} student(s) are their notebook "
             "files' modification times (no nbgrader timestamp.txt beside them): a copy "
             "that does not keep times (cp without -p, a download) changes them; check "
             "the late penalties")

    seed = secret_seed(out_dir / "secret-seed")
    inputs = case_inputs(a, seed)
    fingerprint = checks_fingerprint(a, seed, library_packages(a))
    store = ResultStore(out_dir / "results", fingerprint, mode)
    forced = _ForcedRegrade(out_dir, force)
    known, jobs, reused, paths = _plan(ids, submissions, a, store, force, forced.since)
    if store.other_mode:
        before, now = (("without a sandbox", "in the sandbox") if sandboxed
                       else ("in the sandbox", "without one (--no-sandbox)"))
        echo(f"note: {len(store.other_mode)} saved result(s) were graded {before}: "
             f"regraded now {now}")

    reference = None
    if jobs:
        reference = None if force else load_reference(out_dir / "reference", fingerprint,
                                                      mode)
        if reference is None:
            echo(f"Running the reference answer of {a.name} ...")
            # The reference answer is trusted; it runs in the mode the submissions will, so
            # the CPU limits derived from its time fit them. On a Dask cluster this machine
            # need not have a sandbox: the workers do.
            reference = run_reference(a, inputs, sandboxed=sandboxed and (
                scheduler is None or sandboxes.sandbox_mode() != "none"))
            save_reference(out_dir / "reference", fingerprint, reference, mode)
        where = f"on the Dask cluster at {scheduler}" if scheduler else \
            f"with {min(workers, len(jobs))} worker(s)"
        echo(_first_line(known, jobs, reused, where))

    results = dict(known)
    sandbox = ""
    asked = questions(a)
    with CourseGradebook(db_url, a) as gradebook:
        gradebook.set_due_date(policy.due if policy else None)
        entered = handscores.entered(out_dir, gradebook.hand_scores)
        repaired = []

        def commit(result, digest=None):
            """The one writer: gradebook, saved result, feedback page, problem line."""
            sid = result.student_id
            blank = unanswered(paths[sid], a, asked)
            if result.status != "missing":
                hand = {g: v for (s, g), v in entered.items() if s == sid}
                repaired.extend((sid, *change) for change in gradebook.record(
                    result, blank, lateness[sid].fraction, times[sid], hand))
            if digest is not None:
                store.save(result, digest)
            manual = gradebook.manual_scores(sid) if result.status != "missing" else {}
            feedback.write(out_dir / "feedback" / f"{sid}.html",
                           feedback.render(result, a, manual, lateness[sid],
                                           unanswered=blank))
            if result.status != "ok" or result.notes:
                first = result.notes[0] if result.notes else ""
                # through tqdm while a bar is drawn; else through echo (silent for the
                # re-run of `review import`)
                (tqdm.write if progress else echo)(
                    f"{sid}: {result.status} ({result.auto_total:g}/{a.auto_points:g}) "
                    f"{first}")
            return manual

        for sid in ids:
            if sid in known:
                commit(known[sid])
        sandbox = _run_jobs(jobs, a, reference, inputs, sandboxed, workers, commit,
                            results, progress, scheduler, fingerprint, force) if jobs else ""
        # Every result of this batch was graded in its mode (saved ones from another mode
        # were regraded above), so one name describes them all.
        sandbox = sandbox or next((r.sandbox for r in results.values() if r.sandbox), "") \
            or ("bubblewrap" if sandboxed else SANDBOX_NAMES["none"])
        forced.finished()
        if repaired:
            echo(_repair_line(repaired, out_dir))

        rows = []
        for sid in ids:
            manual = gradebook.manual_scores(sid) if results[sid].status != "missing" else {}
            rows.append(csv_row(results[sid], a, manual, lateness[sid].fraction))
    csv_path = out_dir / "grades.csv"
    write_csv_atomically(csv_path, csv_columns(a), rows)
    ordered = [results[sid] for sid in ids]
    _write_report(out_dir, a, ordered, rows, lateness, submissions, sandbox)
    if canvas_rows is not None or canvas_column:
        canvas.write_grades(out_dir / "canvas_grades.csv", canvas_column or a.name,
                            {r["student_id"]: r for r in rows}, canvas_rows, a.max_points)
    if reference is not None:
        feedback.write(out_dir / "reference.json", json.dumps({
            "cpu_cells": reference.cpu_cells, "cpu_parts": reference.cpu_parts,
            "limits": {"cell_seconds": reference.limits.cell_seconds,
                       "part_seconds": reference.limits.part_seconds},
            "wall_seconds": {r.student_id: round(r.wall_seconds, 3) for r in ordered},
        }, indent=1))
    return BatchOutcome(a.name, out_dir, csv_path, db_url, ordered, sandbox,
                        graded=len(jobs), reused=reused, workers=min(workers, len(jobs) or 1))


class _LocalRunner:
    """Jobs on threads of this process (the sandboxes are the processes)."""

    def __init__(self, jobs, a, reference, inputs, sandboxed, workers):
        self.slots = _Slots(workers)
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grader")
        self.pending = {self.pool.submit(self._work, job, a, reference, inputs, sandboxed):
                        job for job in jobs}

    def _work(self, job, a, reference, inputs, sandboxed):
        if self.stopping.is_set():
            return None
        slot = self.slots.take()
        try:
            result = grade_notebook(job.student_id, job.path, a, reference, inputs,
                                    sandboxed=sandboxed, slot=slot)
        finally:
            self.slots.give(slot)
        if job.note:
            result.notes.insert(0, job.note)
        return result

    def results(self):
        """(job, result) pairs as they finish; wakes twice a second so Ctrl-C is prompt."""
        while self.pending:
            finished, _ = wait(self.pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                yield self.pending.pop(future), future.result()

    def stop(self):
        self.stopping.set()
        kill_all_running()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class _DaskRunner:
    """Jobs on a Dask distributed cluster, sent and returned as data."""

    def __init__(self, jobs, a, reference, inputs, scheduler, fingerprint, sandboxed=True):
        from autograder.run.cluster import connect, grade_remote, make_bundle

        self.client = connect(scheduler)
        bundle = make_bundle(a, library_packages(a), fingerprint)
        # sent once to every worker, not once per submission
        shared = self.client.scatter([bundle, reference, inputs], broadcast=True)
        self.pending = {}  # future -> job
        for job in jobs:
            future = self.client.submit(
                grade_remote, *shared, job.student_id, job.path.name, job.path.read_bytes(),
                job.note, sandboxed, key=f"grade-{a.name}-{job.student_id}-{job.digest[:16]}",
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


def _run_jobs(jobs, a, reference, inputs, sandboxed, workers, commit, results, progress,
              scheduler=None, fingerprint="", force=False):
    """Grade ``jobs`` locally on ``workers`` threads, or on the Dask cluster at
    ``scheduler``; commit each result in this thread as it arrives. On Ctrl-C or SIGTERM:
    stop starting jobs, kill the running sandboxes, commit nothing more, and raise
    BatchInterruptedError."""
    previous = _raise_on_sigterm()
    sandbox, done = "", 0
    bar = tqdm(total=len(jobs), desc=f"grading {a.name}", unit="student",
               disable=not progress)
    runner = None
    try:
        runner = (_DaskRunner(jobs, a, reference, inputs, scheduler, fingerprint, sandboxed)
                  if scheduler
                  else _LocalRunner(jobs, a, reference, inputs, sandboxed,
                                    min(workers, len(jobs))))
        for job, result in runner.results():
            sandbox = sandbox or result.sandbox
            results[job.student_id] = result
            commit(result, job.digest)
            done += 1
            bar.update()
    except KeyboardInterrupt:
        if runner is not None:
            runner.stop()
        # After --force, the same command would regrade everyone again: say what resumes
        # (the unfinished regrade is remembered: see _ForcedRegrade).
        again = ("run the same command without --force to regrade only the rest"
                 if force else "run the same command again to grade the rest")
        raise BatchInterruptedError(
            f"interrupted: {done} of {len(jobs)} submissions graded in this run are saved; "
            f"{again}") from None
    finally:
        bar.close()
        if runner is not None:
            runner.close()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    return sandbox


def _raise_on_sigterm():
    """Treat SIGTERM (``kill``) like Ctrl-C, so both end the batch cleanly."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signal.SIGTERM)  # only the main thread may set handlers
    return signal.signal(signal.SIGTERM, handler)
