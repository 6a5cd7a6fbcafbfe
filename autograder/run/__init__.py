"""Running the jobs of a batch: one :class:`Runner` interface, two ways to run.

A runner takes the batch's jobs and yields ``(job, result)`` as each one finishes; where
the work happens is its own business: :class:`~autograder.run.local.LocalRunner` grades on
threads of this process (each submission in its own sandboxed process),
:class:`~autograder.run.cluster.DaskRunner` on a Dask distributed cluster, with work and
results sent as data. :func:`run_jobs` drives either one: it hands each result to the
caller's ``commit`` in this thread as it arrives, draws the progress bar, and turns Ctrl-C
or SIGTERM into a clean stop.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tqdm import tqdm

from autograder.errors import BatchInterruptedError

if TYPE_CHECKING:
    from autograder.run.grading import SubmissionResult


@dataclass(frozen=True)
class Job:
    """One submission to grade."""

    student_id: str
    path: Path  # the notebook chosen at intake
    note: str | None  # why that notebook (put first in the result's notes)
    digest: str  # SHA-256 of its bytes when the intake read it


class Runner(Protocol):
    def results(self) -> Iterator[tuple[Job, SubmissionResult]]:
        """(job, result) pairs, in the order they finish."""

    def stop(self) -> None:
        """Start no more jobs and end the running ones (the batch was interrupted)."""

    def close(self) -> None:
        """Release the threads, processes or connection the runner holds."""


def run_jobs(jobs: list[Job], runner_factory: Callable[[], Runner],
             commit: Callable[[Job, SubmissionResult], None], label: str,
             progress: bool = True, force: bool = False) -> None:
    """Run ``jobs`` on the runner ``runner_factory`` makes; ``commit`` each result in this
    thread as it arrives. On Ctrl-C or SIGTERM: stop starting jobs, end the running ones,
    commit nothing more, and raise BatchInterruptedError."""
    previous = _raise_on_sigterm()
    done = 0
    bar = tqdm(total=len(jobs), desc=label, unit="student", disable=not progress)
    runner = None
    try:
        runner = runner_factory()
        for job, result in runner.results():
            commit(job, result)
            done += 1
            bar.update()
    except KeyboardInterrupt:
        if runner is not None:
            runner.stop()
        # After --force, the same command would regrade everyone again: say what resumes
        # (the unfinished regrade is remembered: see autograder.plan.ForcedRegrade).
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


def _raise_on_sigterm():
    """Treat SIGTERM (``kill``) like Ctrl-C, so both end the batch cleanly."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return signal.getsignal(signal.SIGTERM)  # only the main thread may set handlers
    return signal.signal(signal.SIGTERM, handler)
