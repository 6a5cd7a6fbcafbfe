"""Wrong input is refused, not graded: one clear line, exit 2, nothing written. And input
that is merely unusual is handled as a user would expect: a single notebook path is
graded, ids differing only in case are one student, file times are warned about.

The refusals happen before any code runs, so even the tests that involve problem set 1
take a second.
"""

import shutil
import zipfile

import pytest
from grading_helpers import FIXTURES, ROOT, read_csv, run_cli

COURSE = ["--course-root", FIXTURES / "course"]


def refused(done, *words):
    """The command failed the way a user can act on: exit 2, one line, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)
    return done.stderr


def fx01(sid):
    return (FIXTURES / "submitted" / sid / "fx01_tiny" / "fx01_tiny.ipynb").read_bytes()


@pytest.fixture
def two_sets(tmp_path):
    """A checks folder with the fixture set and problem set 1, as an instructor's
    solutions/ holds several sets."""
    checks = tmp_path / "checks"
    shutil.copytree(FIXTURES / "course" / "solutions", checks)
    shutil.copytree(ROOT / "solutions" / "ps01_fully_connected",
                    checks / "ps01_fully_connected",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return checks


def test_a_zip_of_another_set_is_refused_and_names_that_set(tmp_path, two_sets):
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i, sid in enumerate(["perfect", "wrong_gradient", "blank", "partly_right"]):
            z.writestr(f"{sid.replace('_', '')}_{100 + i}_{900 + i}_fx01_tiny.ipynb",
                       fx01(sid))
    course = tmp_path / "course"
    done = run_cli("grade", "ps01", archive, "--checks", two_sets, "--course-dir", course,
                   *COURSE)
    refused(done, "4 of the 4", "notebooks of fx01_tiny, not ps01_fully_connected",
            "nothing was graded")
    assert not course.exists()


def test_a_folder_of_another_set_is_refused(tmp_path, two_sets):
    flat = tmp_path / "flat"
    flat.mkdir()
    source = ROOT / "solutions/ps01_fully_connected/ps01_fully_connected.ipynb"
    for sid in ("ann", "ben", "cleo"):
        shutil.copy(source, flat / f"{sid}.ipynb")
    shutil.copy(FIXTURES / "submitted/perfect/fx01_tiny/fx01_tiny.ipynb", flat / "dan.ipynb")
    course = tmp_path / "course"
    done = run_cli("grade", "fx01", flat, "--checks", two_sets, "--course-dir", course,
                   *COURSE)
    refused(done, "3 of the 4", "notebooks of ps01_fully_connected, not fx01_tiny")
    assert not course.exists()
    # The same folder with only the fixture set known: no set to name, none of this one
    for sid in ("dan",):
        (flat / f"{sid}.ipynb").unlink()
    done = run_cli("grade", "fx01", flat, "--course-dir", course, *COURSE)
    refused(done, "none of the 3 readable submissions", "is a notebook of fx01_tiny")
    assert not course.exists()


@pytest.mark.parametrize("roster, words", [
    ("name,email\nperfect,p@example.org\n",
     ["has no student_id column", "its first line: name, email"]),
    ("student_id\nperfect\nblank\nperfect\n", ["lists student 'perfect' twice: lines 2 and 4"]),
    ("student_id,name\nAlice,A\nbob,B\nalice,a\n",
     ["lists student 'alice' twice: lines 2 and 4", "as 'Alice'", "only in case"]),
    ("Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n"
     "Pat,101,s101,pat,A\nPam,102,s102,pam,A\nPat again,103,s103,pat,B\n",
     ["lists student 'pat' twice: lines 3 and 5"]),
])
def test_a_bad_roster_is_one_line_naming_the_problem(tmp_path, roster, words):
    (tmp_path / "roster.csv").write_text(roster)
    course = tmp_path / "course"
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--roster", tmp_path / "roster.csv",
                   "--course-dir", course, *COURSE)
    refused(done, *words)
    assert not course.exists()


def test_submissions_differing_only_in_case_are_refused(tmp_path):
    submitted = tmp_path / "submitted"
    for sid, source in (("Alice", "perfect"), ("alice", "blank")):
        shutil.copytree(FIXTURES / "submitted" / source, submitted / sid)
    done = run_cli("grade", "fx01", submitted, "--course-dir", tmp_path / "course", *COURSE)
    refused(done, "'Alice' and 'alice'", "differ only in case")
    assert not (tmp_path / "course").exists()


def test_roster_and_submissions_differing_in_case_are_one_student(tmp_path):
    submitted = tmp_path / "submitted"
    for sid, source in (("perfect", "perfect"), ("blank", "blank")):
        shutil.copytree(FIXTURES / "submitted" / source, submitted / sid)
    (tmp_path / "roster.csv").write_text("student_id\nPerfect\nBLANK\n")
    done = run_cli("grade", "fx01", submitted, "--roster", tmp_path / "roster.csv",
                   "--course-dir", tmp_path / "course", "--quiet", *COURSE)
    assert done.returncode == 0, done.stderr
    assert "submission 'perfect' graded as 'Perfect'" in done.stdout
    rows = read_csv(tmp_path / "course/fx01_tiny/grades.csv")
    assert [(r["student_id"], r["auto_total"], r["status"]) for r in rows] == [
        ("Perfect", "6", "ok"), ("BLANK", "0", "errors")]  # one row each, none missing


def test_a_single_notebook_is_graded_and_file_times_are_warned_about(tmp_path):
    alice = tmp_path / "alice.ipynb"
    alice.write_bytes(fx01("perfect"))
    (tmp_path / "late.toml").write_text('due = 2026-11-20T23:59:00+00:00\n'
                                        'policy = "percent_per_day"\npercent = 10\n')
    done = run_cli("grade", "fx01", alice, "--course-dir", tmp_path / "course", "--quiet",
                   "--late-config", tmp_path / "late.toml", *COURSE)
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "course/fx01_tiny/grades.csv")
    assert [(r["student_id"], r["auto_total"]) for r in rows] == [("alice", "6")]
    notes = [line for line in done.stdout.splitlines() if "modification times" in line]
    assert len(notes) == 1 and "1 student(s)" in notes[0]

    # nbgrader's timestamp.txt: the times are the exchange's, nothing to warn about
    submitted = tmp_path / "submitted"
    shutil.copytree(FIXTURES / "submitted/perfect", submitted / "perfect")
    (submitted / "perfect/fx01_tiny/timestamp.txt").write_text("2026-11-20 10:00:00 UTC\n")
    done = run_cli("grade", "fx01", submitted, "--course-dir", tmp_path / "course2",
                   "--quiet", "--late-config", tmp_path / "late.toml", *COURSE)
    assert done.returncode == 0, done.stderr
    assert "modification times" not in done.stdout

    not_a_notebook = tmp_path / "grades.txt"
    not_a_notebook.write_text("x")
    refused(run_cli("grade", "fx01", not_a_notebook, "--course-dir", tmp_path / "c3",
                    *COURSE), "is a file, not a folder of submissions")
