"""Grading on threads of this process: the threads wait, the sandboxes do the work.

Each worker thread takes a slot number (its sandbox runs as that slot's own uid, see
autograder.run.sandbox.slot_uid) and grades one job at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from autograder.course.assignment import Assignment
from autograder.run import Job
from autograder.run.grading import Reference, SubmissionResult, grade_notebook
from autograder.run.sandbox import kill_all_running


def default_workers() -> int:
    """One worker per core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


class _Slots:
    """Worker slot numbers (each slot's sandbox runs as its own uid)."""

    def __init__(self, n: int) -> None:
        self._free = list(range(n))
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            return self._free.pop()

    def give(self, slot: int) -> None:
        with self._lock:
            self._free.append(slot)


class LocalRunner:
    """Jobs on ``workers`` threads of this process."""

    def __init__(self, jobs: list[Job], assignment: Assignment, reference: Reference,
                 inputs: dict, sandboxed: bool, workers: int) -> None:
        self.slots = _Slots(workers)
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grader")
        self.pending = {self.pool.submit(self._work, job, assignment, reference, inputs,
                                         sandboxed): job for job in jobs}

    def _work(self, job: Job, assignment: Assignment, reference: Reference, inputs: dict,
              sandboxed: bool) -> SubmissionResult | None:
        if self.stopping.is_set():
            return None
        slot = self.slots.take()
        try:
            result = grade_notebook(job.student_id, job.path, assignment, reference, inputs,
                                    sandboxed=sandboxed, slot=slot)
        finally:
            self.slots.give(slot)
        if job.note:
            result.notes.insert(0, job.note)
        return result

    def results(self) -> Iterator[tuple[Job, SubmissionResult]]:
        """(job, result) pairs as they finish; wakes twice a second so Ctrl-C is prompt."""
        while self.pending:
            finished, _ = wait(self.pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                yield self.pending.pop(future), future.result()

    def stop(self) -> None:
        self.stopping.set()
        kill_all_running()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
