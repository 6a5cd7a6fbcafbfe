"""Batches: parallel equals sequential, interrupted batches resume, re-runs grade only
what changed, and correct answers pass while the machine is loaded."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from grading_helpers import AUTOGRADER, FIXTURES, ROOT, read_csv, run_cli
from nbgrader.api import Gradebook

ARGS = ["--roster", FIXTURES / "roster.csv", "--course-root", FIXTURES / "course", "--quiet"]
# students with a notebook in the fixture class (the roster's "absent" has none)
NOTEBOOKS = sum(1 for p in (FIXTURES / "submitted").iterdir() if p.is_dir())


def grade(course_dir, *extra, submissions=FIXTURES / "submitted"):
    done = run_cli("grade", "fx01", submissions, "--course-dir", course_dir, *ARGS, *extra)
    assert done.returncode == 0, done.stderr
    return done


def gradebook_scores(course_dir):
    """{(student, grade_id): auto_score} of every auto-graded cell in the gradebook."""
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        return {(s.student.id, g.name): g.auto_score
                for s in gb.assignment_submissions("fx01_tiny")
                for nb in s.notebooks for g in nb.grades if g.auto_score is not None}


def summary_counts(stdout):
    """(run now, unchanged) from the command's summary line."""
    line = next(x for x in stdout.splitlines() if x.startswith("graded "))
    run_now = int(line.split("; ")[1].split(" run now")[0])
    unchanged = int(line.split("worker(s), ")[1].split(" unchanged")[0])
    return run_now, unchanged


def with_seed(tmp_path, name, seed_from):
    """A fresh course dir holding the same secret seed as ``seed_from``."""
    course = tmp_path / name
    (course / "fx01_tiny").mkdir(parents=True)
    shutil.copy(seed_from / "fx01_tiny" / "secret-seed", course / "fx01_tiny" / "secret-seed")
    return course


@pytest.fixture(scope="module")
def parallel_run(tmp_path_factory):
    course = tmp_path_factory.mktemp("parallel") / "course"
    done = grade(course, "--workers", "3")
    return course, done


def test_sequential_and_parallel_runs_give_identical_csv_and_gradebook(parallel_run, tmp_path):
    parallel, _ = parallel_run
    sequential = with_seed(tmp_path, "sequential", parallel)
    grade(sequential, "--workers", "1")
    csv = "fx01_tiny/grades.csv"
    assert (parallel / csv).read_text() == (sequential / csv).read_text()
    assert gradebook_scores(parallel) == gradebook_scores(sequential)
    assert read_csv(parallel / csv) == read_csv(FIXTURES / "expected_grades.csv")


def test_a_rerun_grades_only_what_changed(parallel_run, tmp_path):
    parallel, _ = parallel_run
    course = tmp_path / "course"
    shutil.copytree(parallel, course)
    again = grade(course)
    assert summary_counts(again.stdout) == (0, NOTEBOOKS)
    assert (course / "fx01_tiny/grades.csv").read_text() == \
        (parallel / "fx01_tiny/grades.csv").read_text()

    # wrong_gradient resubmits a correct notebook: only they are graded again
    submitted = tmp_path / "submitted"
    shutil.copytree(FIXTURES / "submitted", submitted)
    shutil.copy(submitted / "perfect/fx01_tiny/fx01_tiny.ipynb",
                submitted / "wrong_gradient/fx01_tiny/fx01_tiny.ipynb")
    changed = grade(course, submissions=submitted)
    assert summary_counts(changed.stdout) == (1, NOTEBOOKS - 1)
    row = next(r for r in read_csv(course / "fx01_tiny/grades.csv")
               if r["student_id"] == "wrong_gradient")
    assert row["auto_total"] == "6"

    forced = grade(course, "--force", submissions=submitted)
    assert summary_counts(forced.stdout) == (NOTEBOOKS, 0)


def test_changed_checks_regrade_everyone(parallel_run, tmp_path):
    parallel, _ = parallel_run
    course = tmp_path / "course"
    shutil.copytree(parallel, course)
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "course", root)
    checks = root / "solutions/fx01_tiny/checks.py"
    checks.write_text(checks.read_text() + "\n# a stricter instructor\n")
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--course-dir", course,
                   "--roster", FIXTURES / "roster.csv", "--course-root", root, "--quiet")
    assert done.returncode == 0, done.stderr
    assert summary_counts(done.stdout) == (NOTEBOOKS, 0)


def _start(course, submissions, workers="1"):
    return subprocess.Popen(
        [AUTOGRADER, "grade", "fx01", str(submissions), "--course-dir", str(course),
         "--course-root", str(FIXTURES / "course"), "--workers", workers, "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_results(course, n, proc, timeout=120):
    folder = course / "fx01_tiny" / "results"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.is_dir() and len(list(folder.glob("*.json"))) >= n:
            return
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError("no results appeared")


def _slow_ones_last(tmp_path):
    """Five fixture submissions, the slow ones (an infinite loop) last, so that an
    interrupt lands mid-batch; returns the folder."""
    submitted = tmp_path / "submitted"
    for i, sid in enumerate(["perfect", "wrong_gradient", "partly_right", "infinite_loop",
                             "constant_forward"]):
        shutil.copytree(FIXTURES / "submitted" / sid / "fx01_tiny",
                        submitted / f"s{i}_{sid}" / "fx01_tiny")
    return submitted


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_an_interrupted_batch_keeps_what_finished_and_resumes(tmp_path, how):
    # A class where the slow submissions come last: the interrupt lands mid-batch.
    submitted = _slow_ones_last(tmp_path)
    course = tmp_path / "course"
    proc = _start(course, submitted)
    _wait_for_results(course, 2, proc)
    proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    results = course / "fx01_tiny" / "results"
    saved = sorted(p.stem for p in results.glob("*.json"))
    if how == "ctrl-c":
        assert proc.returncode == 130
        assert "interrupted" in err and "run the same command again" in err
        assert "Traceback" not in err
    assert 2 <= len(saved) < 5
    for path in results.glob("*.json"):  # every saved result is whole
        json.loads(path.read_text())
    assert not (course / "fx01_tiny" / "grades.csv").exists()  # no partial class list
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert str(course) not in ps  # no grader or sandbox of this batch left running

    proc = _start(course, submitted, workers="2")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert summary_counts(out) == (5 - len(saved), len(saved))
    assert not list(results.glob(".tmp-*"))
    totals = {r["student_id"]: r["auto_total"] for r in
              read_csv(course / "fx01_tiny" / "grades.csv")}
    assert totals == {"s0_perfect": "6", "s1_wrong_gradient": "3", "s2_partly_right": "5",
                      "s3_infinite_loop": "3", "s4_constant_forward": "4"}


def test_a_correct_submission_keeps_full_marks_on_a_loaded_machine(tmp_path):
    """Busy processes, two per core, load the machine while problem set 1's reference
    answer and solution are graded: CPU-time limits do not count the time spent waiting."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(2 * (os.cpu_count() or 1))]
    try:
        flat = tmp_path / "flat"
        flat.mkdir()
        source = ROOT / "solutions/ps01_fully_connected/ps01_fully_connected.ipynb"
        for sid in ("a", "b", "c"):
            shutil.copy(source, flat / f"{sid}.ipynb")
        done = run_cli("grade", "ps01", flat, "--course-dir", tmp_path / "course",
                       "--course-root", ROOT, "--quiet")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "course/ps01_fully_connected/grades.csv")
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert [r["auto_total"] for r in rows] == ["58"] * 3  # every auto-graded point


def test_ctrl_c_after_force_says_how_to_regrade_only_the_rest(tmp_path):
    """After --force, "run the same command again" would regrade everyone once more: the
    message says to drop --force, and the run without it regrades exactly the students
    the interrupted --force run had not reached (their old results are not reused)."""
    submitted = _slow_ones_last(tmp_path)
    course = tmp_path / "course"
    proc = _start(course, submitted)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    results = course / "fx01_tiny" / "results"
    before = {p.stem: json.loads(p.read_text())["graded_at"] for p in results.glob("*.json")}
    assert len(before) == 5

    proc = subprocess.Popen(
        [AUTOGRADER, "grade", "fx01", str(submitted), "--course-dir", str(course),
         "--course-root", str(FIXTURES / "course"), "--workers", "1", "--quiet", "--force"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def regraded():
        out = set()
        for p in results.glob("*.json"):
            try:
                if json.loads(p.read_text())["graded_at"] > before[p.stem]:
                    out.add(p.stem)
            except (OSError, ValueError, KeyError):
                pass
        return out

    deadline = time.monotonic() + 120
    while len(regraded()) < 2:
        assert proc.poll() is None, "the --force batch ended before it could be interrupted"
        assert time.monotonic() < deadline, "no result was regraded"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "run the same command without --force to regrade only the rest" in err
    done_in_force = regraded()
    assert 2 <= len(done_in_force) < 5

    proc = _start(course, submitted, workers="2")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert summary_counts(out) == (5 - len(done_in_force), len(done_in_force))
    assert regraded() == set(before)  # everyone regraded once since the --force
    assert not (course / "fx01_tiny" / "regrade-since").exists()
    proc = _start(course, submitted)  # and now the regrade is over: nothing to redo
    out, _ = proc.communicate(timeout=300)
    assert summary_counts(out) == (0, 5)
