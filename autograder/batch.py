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
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from autograder import assignment as assignments
from autograder import canvas, feedback, report
from autograder.errors import BatchInterruptedError, SubmissionError
from autograder.gradebook import CourseGradebook, csv_columns, csv_row, write_csv_atomically
from autograder.grading import (
    case_inputs,
    grade_notebook,
    library_packages,
    missing_result,
    run_reference,
)
from autograder.late import assess, load_policy, read_timestamp
from autograder.notebooks import match_renamed
from autograder.results import (
    ResultStore,
    checks_fingerprint,
    file_digest,
    load_reference,
    save_reference,
)
from autograder.review import save_last_run
from autograder.sandbox import kill_all_running
from autograder.submissions import discover, read_roster


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
    """(path, note) of the notebook to grade; raises SubmissionError if there is none."""
    exact = [p for p in submission.candidates if p.name == submission.expected_name]
    if exact:
        return exact[0], None
    source_ids = {p.grade_id for p in assignment.parts} | set(assignment.manual)
    path, _ = match_renamed(submission.candidates, source_ids)
    return path, (f"notebook '{path.name}' is not named {submission.expected_name}; "
                  f"it was matched to the assignment by its cells")


def _submitted_at(submission, assignment):
    """When a submission was handed in (see autograder.late), or None."""
    if submission is None or not submission.candidates:
        return None
    try:
        path, _ = pick_notebook(submission, assignment)
    except SubmissionError:
        path = submission.candidates[0]
    return read_timestamp(path)


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
                         sandbox)
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


def _plan(ids, submissions, a, store, force):
    """Split the class into results known now (missing, no notebook, saved and unchanged)
    and jobs to grade. Returns (known {student: result}, jobs, number of saved results
    reused)."""
    known, jobs, reused = {}, [], 0
    for sid in ids:
        submission = submissions.get(sid)
        if submission is None:
            known[sid] = missing_result(sid, a)
            continue
        try:
            path, note = pick_notebook(submission, a)
            digest = file_digest(path)
        except SubmissionError as exc:
            result = missing_result(sid, a)
            result.status, result.notes = exc.status, [exc.message]
            for part in result.parts:
                part.message = exc.message
            known[sid] = result
            continue
        except OSError as exc:
            digest, path, note = f"unreadable: {exc}", submission.candidates[0], None
        saved = None if force else store.load(sid, digest)
        if saved is not None:
            known[sid] = saved
            reused += 1
        else:
            jobs.append(_Job(sid, path, note, digest))
    return known, jobs, reused


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
    a = assignments.load(name, checks_root)
    out_dir = Path(course_dir).resolve() / a.name
    (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{Path(course_dir).resolve() / 'gradebook.db'}"
    run_arguments = {"submissions": str(Path(submissions_dir).resolve()),
                     "roster": str(Path(roster).resolve()) if roster else None,
                     "db_url": db_url, "late_config": str(Path(late_config).resolve())
                     if late_config else None, "canvas_column": canvas_column}
    canvas_rows = canvas.read_roster(roster) if roster else None
    if Path(submissions_dir).suffix.lower() == ".zip":
        folder = out_dir / "canvas-submissions"
        for problem in canvas.unpack(submissions_dir, folder, canvas_rows):
            echo(f"note: {problem}")
        submissions_dir = folder
    submissions = discover(submissions_dir, a.name, a.notebook.name)
    save_last_run(out_dir, notebooks=str(Path(submissions_dir).resolve()), **run_arguments)
    ids = list(submissions)
    if roster:
        listed = read_roster(roster)
        extra = [s for s in ids if s not in listed]
        for sid in extra:
            echo(f"note: {sid} submitted but is not on the roster; graded anyway")
        ids = listed + extra
    workers = max(1, workers or default_workers())
    late_file = Path(late_config) if late_config else out_dir / "late.toml"
    policy = load_policy(late_file) if late_config or late_file.is_file() else None
    lateness = {sid: assess(policy, sid, _submitted_at(submissions.get(sid), a))
                for sid in ids}

    seed = secret_seed(out_dir / "secret-seed")
    inputs = case_inputs(a, seed)
    fingerprint = checks_fingerprint(a, seed, library_packages(a))
    store = ResultStore(out_dir / "results", fingerprint)
    known, jobs, reused = _plan(ids, submissions, a, store, force)

    reference = None
    if jobs:
        reference = None if force else load_reference(out_dir / "reference", fingerprint)
        if reference is None:
            echo(f"Running the reference answer of {a.name} ...")
            reference = run_reference(a, inputs, sandboxed=sandboxed)
            save_reference(out_dir / "reference", fingerprint, reference)
        where = f"on the Dask cluster at {scheduler}" if scheduler else \
            f"with {min(workers, len(jobs))} worker(s)"
        echo(f"Grading {len(jobs)} submission(s) {where}; "
             f"{len(ids) - len(jobs)} already graded or without a notebook")

    results = dict(known)
    sandbox = ""
    with CourseGradebook(db_url, a) as gradebook:
        def commit(result, digest=None):
            """The one writer: gradebook, saved result, feedback page, problem line."""
            if result.status != "missing":
                gradebook.record(result)
            if digest is not None:
                store.save(result, digest)
            manual = gradebook.manual_scores(result.student_id) \
                if result.status != "missing" else {}
            feedback.write(out_dir / "feedback" / f"{result.student_id}.html",
                           feedback.render(result, a, manual, lateness[result.student_id]))
            if result.status != "ok" or result.notes:
                first = result.notes[0] if result.notes else ""
                tqdm.write(f"{result.student_id}: {result.status} "
                           f"({result.auto_total:g}/{a.auto_points:g}) {first}")
            return manual

        for sid in ids:
            if sid in known:
                commit(known[sid])
        sandbox = _run_jobs(jobs, a, reference, inputs, sandboxed, workers, commit,
                            results, progress, scheduler, fingerprint) if jobs else \
            next((r.sandbox for r in results.values() if r.sandbox), "")

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
            "limits": {"cells_seconds": reference.limits.cells_seconds,
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

    def __init__(self, jobs, a, reference, inputs, scheduler, fingerprint):
        from autograder.distributed import connect, grade_remote, make_bundle

        self.client = connect(scheduler)
        bundle = make_bundle(a, library_packages(a), fingerprint)
        # sent once to every worker, not once per submission
        shared = self.client.scatter([bundle, reference, inputs], broadcast=True)
        self.pending = {}  # future -> job
        for job in jobs:
            future = self.client.submit(
                grade_remote, *shared, job.student_id, job.path.name, job.path.read_bytes(),
                job.note, key=f"grade-{a.name}-{job.student_id}-{job.digest[:16]}",
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
              scheduler=None, fingerprint=""):
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
        runner = (_DaskRunner(jobs, a, reference, inputs, scheduler, fingerprint) if scheduler
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
        raise BatchInterruptedError(
            f"interrupted: {done} of {len(jobs)} submissions graded in this run are saved; "
            "run the same command again to grade the rest") from None
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
