"""Any notebook file costs only its student, and a student's folder is read by content.

One batch grades ``tests/fixtures/messy/`` (see its README table): notebook files that are
nested too deeply, binary, not UTF-8, nbformat 3, with duplicated or missing cell ids,
changed cell types, sources and metadata of the wrong types, lone surrogates, a byte-order
mark, code too deep for Python's parser, plus one over the size limit made here (sparse);
and folders where the grader must pick the notebook with the work (the stub beside the
work, two versions), a Colab-stripped notebook, another set's notebook. The batch finishes
and every student gets the grade written by hand in expected_messy.csv.
"""

import shutil

import pytest
from grading_helpers import FIXTURES, read_csv, run_cli

COURSE = ["--course-root", FIXTURES / "course"]


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    work = tmp_path_factory.mktemp("messy")
    submitted = work / "submitted"
    shutil.copytree(FIXTURES / "messy", submitted)
    huge = submitted / "huge" / "fx01_tiny" / "fx01_tiny.ipynb"
    huge.parent.mkdir(parents=True)
    with open(huge, "wb") as f:  # 21 MB, sparse: nothing that large is committed
        f.write(b'{"cells": [')
        f.truncate(21 * 1024**2)
    course = work / "course"
    done = run_cli("grade", "fx01", submitted, "--course-dir", course, "--workers", "2",
                   "--quiet", *COURSE)
    return course, done, submitted


def page(course, sid):
    return (course / "fx01_tiny" / "feedback" / f"{sid}.html").read_text()


def test_the_batch_finishes_and_everyone_gets_the_hand_written_grade(messy):
    course, done, _ = messy
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    got = read_csv(course / "fx01_tiny" / "grades.csv")
    want = read_csv(FIXTURES / "expected_messy.csv")
    assert [r["student_id"] for r in got] == [r["student_id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g == w, f"{w['student_id']}: got {g}, expected {w}"


def test_each_problem_is_one_clear_line(messy):
    course, done, _ = messy
    lines = done.stdout.splitlines()
    for sid, words in {"huge": "over the 20 MB limit",
                       "deep_nesting": "nested too deeply",
                       "binary": "not UTF-8",
                       "invalid_utf8": "not UTF-8",
                       "nbformat3": "nbformat 3",
                       "other_set": "is it the right notebook?",
                       "stub_and_work": "untouched stub",
                       "two_versions": "check which one"}.items():
        mine = [line for line in lines if line.startswith(f"{sid}:")]
        assert len(mine) == 1 and words in mine[0], (sid, mine)
        assert words in page(course, sid), sid


def test_the_notebook_with_the_work_is_graded_and_the_choice_is_said(messy):
    course, _, _ = messy
    stub = page(course, "stub_and_work")
    assert "graded &#x27;fx01_tiny (1).ipynb&#x27;" in stub
    assert "&#x27;fx01_tiny.ipynb&#x27; (the untouched stub)" in stub
    report = (course / "fx01_tiny" / "report.html").read_text()
    for sid in ("stub_and_work", "two_versions", "other_set"):
        assert f"<td>{sid}</td>" in report  # listed under "needs attention"


def test_review_export_reads_every_answer_even_without_metadata(messy):
    course, _, _ = messy
    done = run_cli("review", "export", "fx01", "--course-dir", course, *COURSE)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {r["student_id"]: r["answer"]
            for r in read_csv(course / "fx01_tiny" / "review" / "review.csv")}
    assert "Colab answer: 1 where x > 0" in rows["colab_stripped"]
    assert rows["stub_and_work"].startswith("Derive the gradient")  # from the work, "(1)"
    assert "YOUR ANSWER HERE" not in rows["stub_and_work"]
    assert "1 where x > 0" in rows["surrogates"]
    assert "Colab answer" in (course / "fx01_tiny" / "review" / "review.html").read_text()
