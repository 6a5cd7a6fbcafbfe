"""The grader on the fixture assignment: hand-written expected grades, feedback,
gradebook, re-grading, release, validate, and agreement with the notebook's own tests."""

import json
import shutil

import numpy as np
import pytest
from grading_helpers import (
    FIXTURES,
    copy_course,
    read_csv,
    run_cli,
    visible_test_points,
    write_review_sheet,
)
from nbgrader.api import Gradebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the fixture class once through the command line."""
    work = tmp_path_factory.mktemp("fixture-grading")
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--roster",
                   FIXTURES / "roster.csv", "--course-root", FIXTURES / "course",
                   "--course-dir", work / "course", "--quiet")
    assert done.returncode == 0, done.stderr
    return work / "course", done


def test_grades_match_the_hand_written_expectations(graded):
    course, _ = graded
    got = read_csv(course / "fx01_tiny" / "grades.csv")
    want = read_csv(FIXTURES / "expected_grades.csv")
    assert [r["student_id"] for r in got] == [r["student_id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g == w, f"{w['student_id']}: got {g}, expected {w}"


def test_one_clear_line_per_problem_and_a_summary(graded):
    _, done = graded
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for sid in ("blank", "syntax_error", "infinite_loop", "calls_exit", "killed_kernel",
                "corrupt_json", "empty_file", "absent", "renamed", "imports_library"):
        assert sum(line.startswith(f"{sid}:") for line in lines) == 1, sid
    assert any("timeout" in line and "relu-backward" in line for line in lines)
    assert any(line.startswith("grades    :") for line in lines)


def test_feedback_for_everyone_without_hidden_material(graded):
    course, _ = graded
    checks = (FIXTURES / "course/solutions/fx01_tiny/checks.py").read_text()
    seed = (course / "fx01_tiny" / "secret-seed").read_text().strip()
    for row in read_csv(FIXTURES / "expected_grades.csv"):
        page = (course / "fx01_tiny" / "feedback" / f"{row['student_id']}.html").read_text()
        assert row["status"] in page and row["student_id"] in page
        for secret in ("relu_inputs", "rng.normal", "np.maximum(0, x)", seed,
                       "### BEGIN SOLUTION", checks.splitlines()[0]):
            assert secret not in page, (row["student_id"], secret)
    wrong = (course / "fx01_tiny" / "feedback" / "wrong_gradient.html").read_text()
    assert "relu-backward" in wrong and "wrong values" in wrong


def test_messages_name_cells_as_jupyter_does_and_say_things_once(graded):
    """syntax_error's backward is its 4th code cell (imports, forward, the forward's test,
    backward), so Jupyter shows it as [4]; a corrupt notebook's reason appears once on its
    page, not on every part's row."""
    course, done = graded
    line = next(x for x in done.stdout.splitlines() if x.startswith("syntax_error:"))
    assert "cell [4]" in line and "SyntaxError" in line, line
    feedback = course / "fx01_tiny" / "feedback"
    page = (feedback / "corrupt_json.html").read_text()
    assert page.count("is not valid notebook JSON") == 1
    assert page.count("not graded (see the note)") == 3
    wrong = (feedback / "wrong_gradient.html").read_text()
    assert "wrong values (largest relative error" in wrong and " at dx[" in wrong
    assert "expected " in wrong and "got " in wrong


def test_gradebook_holds_the_scores(graded):
    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_grade("relu-backward", "fx01_tiny", "fx01_tiny",
                             "perfect").auto_score == 3
        assert gb.find_grade("relu-backward", "fx01_tiny", "fx01_tiny",
                             "wrong_gradient").auto_score == 0
        derivation = gb.find_grade("relu-derivation", "fx01_tiny", "fx01_tiny", "perfect")
        assert derivation.needs_manual_grade
        assert {s.id for s in gb.students} >= {"perfect", "corrupt_json"}


def test_regrading_is_identical_and_keeps_manual_scores(graded, tmp_path):
    course, _ = graded
    course2 = tmp_path / "course"
    shutil.copytree(course, course2)
    write_review_sheet(tmp_path / "scores.csv", [("perfect", "1.5")])
    done = run_cli("review", "import", "fx01", tmp_path / "scores.csv", "--course-dir",
                   course2, "--course-root", FIXTURES / "course")
    assert done.returncode == 0, done.stderr
    done = run_cli("grade", "fx01", FIXTURES / "submitted", "--roster",
                   FIXTURES / "roster.csv", "--course-root", FIXTURES / "course",
                   "--course-dir", course2, "--quiet")
    assert done.returncode == 0, done.stderr
    first = read_csv(course / "fx01_tiny" / "grades.csv")
    again = read_csv(course2 / "fx01_tiny" / "grades.csv")
    perfect = next(r for r in again if r["student_id"] == "perfect")
    assert perfect["manual_total"] == "1.5" and perfect["total"] == "7.5"
    for a, b in zip(first, again, strict=True):
        if a["student_id"] != "perfect":
            assert a == b


def test_bad_folder_is_one_line_and_exit_2(tmp_path):
    done = run_cli("grade", "fx01", tmp_path / "nowhere", "--course-root",
                   FIXTURES / "course", "--course-dir", tmp_path / "c")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    unknown = run_cli("grade", "ps99", tmp_path, "--course-root", FIXTURES / "course")
    assert unknown.returncode == 2 and "no problem set matches 'ps99'" in unknown.stderr


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A copy of the fixture course after `autograder release`."""
    root = copy_course(FIXTURES / "course", tmp_path_factory.mktemp("release") / "course")
    done = run_cli("release", "fx01", cwd=root)
    assert done.returncode == 0, done.stderr
    return root


def test_release_strips_solutions_and_keeps_checks_private(released):
    out = released / "exercises" / "fx01_tiny"
    assert sorted(p.name for p in out.iterdir()) == ["fx01_tiny.ipynb", "probes.py",
                                                     "visible.json"]
    text = (out / "fx01_tiny.ipynb").read_text()
    assert "NotImplementedError" in text and "np.maximum" not in text
    assert "BEGIN SOLUTION" not in text


def test_release_leaves_last_digit_differences_in_committed_files_alone(released, tmp_path):
    """Releasing on another machine (another BLAS kernel) changes the reference's floats
    in the last digits: the committed visible.json keeps its values. A real change of a
    value is written."""
    root = copy_course(released, tmp_path / "course")
    path = root / "solutions/fx01_tiny/visible.json"
    doc = json.loads(path.read_text())
    def expected(document, grade_id, name):  # the first visible case's expected array
        return document["parts"][grade_id]["cases"][0]["expected"][name]

    true_dx = list(expected(doc, "relu-backward", "dx")["data"])
    out = expected(doc, "relu-forward", "out")
    out["data"] = [float(np.nextafter(v, np.inf)) if v else v for v in out["data"]]
    expected(doc, "relu-backward", "dx")["data"][0] += 0.01  # a real difference
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    one_ulp = list(out["data"])
    done = run_cli("release", "fx01", cwd=root)
    assert done.returncode == 0, done.stderr
    after = json.loads(path.read_text())
    assert expected(after, "relu-forward", "out")["data"] == one_ulp  # kept
    assert expected(after, "relu-backward", "dx")["data"] == true_dx  # fixed
    assert (root / "exercises/fx01_tiny/visible.json").read_text() == path.read_text()


def test_validate_reports_each_part(released, tmp_path):
    out = released / "exercises" / "fx01_tiny"
    stub = run_cli("validate", out / "fx01_tiny.ipynb")
    assert stub.returncode == 1
    assert "0 of 6" in stub.stdout and "NotImplementedError" in stub.stdout
    solved = out / "solved.ipynb"
    shutil.copy(released / "solutions/fx01_tiny/fx01_tiny.ipynb", solved)
    ok = run_cli("validate", solved)
    assert ok.returncode == 0 and "6 of 6" in ok.stdout
    missing = run_cli("validate", tmp_path / "x.ipynb")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


@pytest.mark.parametrize("which, points", [("solution", 6), ("stub", 0),
                                           ("ipython_magics", 6)])
def test_notebook_tests_agree_with_the_grader(released, tmp_path, which, points):
    """For honest notebooks, the points the notebook's own test cells report equal the
    grade the trusted grader gives. ipython_magics is honest work written with IPython's
    syntax (magics, ``x = !cmd``, ``get_ipython()``, ``display``, ``obj?``): it runs top
    to bottom in a Jupyter kernel, so it keeps every point in the sandbox too."""
    out = released / "exercises" / "fx01_tiny"
    source = {"solution": released / "solutions/fx01_tiny/fx01_tiny.ipynb",
              "stub": out / "fx01_tiny.ipynb"}.get(
        which, FIXTURES / "submitted" / which / "fx01_tiny/fx01_tiny.ipynb")
    run_dir = tmp_path / "run"
    shutil.copytree(out, run_dir)
    shutil.copy(source, run_dir / "fx01_tiny.ipynb")
    assert visible_test_points(run_dir / "fx01_tiny.ipynb") == points
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(source, flat / f"{which}.ipynb")
    done = run_cli("grade", "fx01", flat, "--course-root", released,
                   "--course-dir", tmp_path / "course", "--quiet")
    assert done.returncode == 0, done.stderr
    row = read_csv(tmp_path / "course" / "fx01_tiny" / "grades.csv")[0]
    assert float(row["auto_total"]) == points


def test_make_grade_passes_options_through():
    """`make grade ... ARGS="..."` runs autograder grade with those options (dry run)."""
    import subprocess

    from grading_helpers import ROOT

    done = subprocess.run(["make", "-n", "-s", "grade", "PS=ps03", "SUBMISSIONS=subs",
                           'ARGS=--roster roster.csv --late-config "my late.toml"'],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].strip() == \
        '.venv/bin/autograder grade ps03 subs --roster roster.csv --late-config "my late.toml"'
