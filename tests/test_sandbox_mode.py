"""Sandbox or nothing: without Bubblewrap the grader refuses (one line, exit 2) unless the
instructor asks for ``--no-sandbox``; the mode is part of what a saved result was graded
under, so installing Bubblewrap regrades unconfined results (and the reverse); grades.csv,
the feedback page and the report say the mode of each student's result.

A machine "without Bubblewrap" is made for real: the command runs with a PATH holding only
this environment's bin folder and the util-linux tools the grader uses (setpriv, choom,
prlimit), so ``bwrap`` is not found.
"""

import os
import shutil
import subprocess

import pytest
from grading_helpers import AUTOGRADER, FIXTURES, read_csv

from autograder.run.sandbox import SandboxUnavailableError

CLASS = {"perfect": "6", "wrong_gradient": "3", "corrupt_json": "0"}  # auto totals by hand


@pytest.fixture
def setup(tmp_path):
    submitted = tmp_path / "submitted"
    for sid in CLASS:
        shutil.copytree(FIXTURES / "submitted" / sid, submitted / sid)
    shim = tmp_path / "bin-without-bwrap"
    shim.mkdir()
    for tool in ("setpriv", "choom", "prlimit"):
        (shim / tool).symlink_to(shutil.which(tool))
    no_bwrap = f"{shim}{os.pathsep}{os.path.dirname(AUTOGRADER)}"
    return submitted, tmp_path / "course", no_bwrap


def grade(submitted, course, *extra, path=None):
    env = dict(os.environ)
    if path:
        env["PATH"] = path
    return subprocess.run([AUTOGRADER, "grade", "fx01", str(submitted), "--course-root",
                           str(FIXTURES / "course"), "--course-dir", str(course), "--quiet",
                           *extra], capture_output=True, text=True, env=env, timeout=600)


def modes(course):
    rows = read_csv(course / "fx01_tiny" / "grades.csv")
    assert {r["student_id"]: r["auto_total"] for r in rows} == CLASS
    return {r["student_id"]: r["sandbox"] for r in rows}


def run_counts(stdout):
    line = next(x for x in stdout.splitlines() if x.startswith("graded "))
    return (int(line.split("; ")[1].split(" run now")[0]),
            int(line.split("worker(s), ")[1].split(" unchanged")[0]))


def test_no_sandbox_is_one_line_and_exit_2_and_nothing_written(setup):
    submitted, course, no_bwrap = setup
    done = grade(submitted, course, path=no_bwrap)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "no sandbox" in done.stderr and "--no-sandbox" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not course.exists()


def test_the_mode_is_stated_and_a_change_of_mode_regrades(setup):
    submitted, course, no_bwrap = setup
    # 1. No Bubblewrap, the instructor asks for --no-sandbox: graded, loudly, marked none.
    done = grade(submitted, course, "--no-sandbox", path=no_bwrap)
    assert done.returncode == 0, done.stderr
    assert "WARNING: --no-sandbox" in done.stderr and "UNCONFINED" in done.stderr
    assert "sandbox   : NONE" in done.stdout
    assert modes(course) == {"perfect": "none", "wrong_gradient": "none", "corrupt_json": ""}
    page = (course / "fx01_tiny/feedback/perfect.html").read_text()
    assert "Sandbox: none" in page and "unconfined" in page
    report = (course / "fx01_tiny/report.html").read_text()
    assert "ran WITHOUT a sandbox" in report and "2 none" in report

    # 2. Bubblewrap installed, the same command without the option: nothing unconfined is
    #    reused; everyone is regraded in the sandbox and the output says why.
    done = grade(submitted, course)
    assert done.returncode == 0, done.stderr
    assert run_counts(done.stdout) == (3, 0)
    assert "3 saved result(s) were graded without a sandbox" in done.stdout
    assert "WARNING" not in done.stderr
    assert modes(course) == {"perfect": "bubblewrap", "wrong_gradient": "bubblewrap",
                             "corrupt_json": ""}
    page = (course / "fx01_tiny/feedback/perfect.html").read_text()
    assert "ran in the Bubblewrap sandbox" in page and "Sandbox: none" not in page
    report = (course / "fx01_tiny/report.html").read_text()
    assert "WITHOUT a sandbox" not in report and "2 bubblewrap" in report

    # 3. The same mode again: everything reused.
    done = grade(submitted, course)
    assert run_counts(done.stdout) == (0, 3)

    # 4. Back to --no-sandbox (Bubblewrap present): sandboxed results are not reused either.
    done = grade(submitted, course, "--no-sandbox")
    assert done.returncode == 0, done.stderr
    assert run_counts(done.stdout) == (3, 0)
    assert modes(course)["perfect"] == "none"


def test_a_dask_worker_without_a_sandbox_refuses(monkeypatch, tmp_path):
    """A worker without Bubblewrap raises (naming itself) instead of grading unconfined;
    the client reports it as one line (a GraderError), exit 2."""
    import autograder.run.sandbox
    from autograder.course import assignment
    from autograder.run.cluster import grade_remote, make_bundle
    from autograder.run.grading import library_packages

    a = assignment.load("fx01", FIXTURES / "course" / "solutions")
    bundle = make_bundle(a, library_packages(a), "fingerprint-of-this-test")
    monkeypatch.setattr(autograder.run.sandbox, "sandbox_mode", lambda: "none")
    notebook = (FIXTURES / "submitted/perfect/fx01_tiny/fx01_tiny.ipynb").read_bytes()
    with pytest.raises(SandboxUnavailableError, match="Dask worker .*no sandbox"):
        grade_remote(bundle, None, {}, "perfect", "fx01_tiny.ipynb", notebook, None)
