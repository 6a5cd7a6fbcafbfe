"""Hand grading round trip: export the derivation answers, import scores, see them in
the gradebook and grades.csv; a bad sheet changes nothing."""

import csv
import shutil

from grading_helpers import FIXTURES, read_csv, run_cli
from nbgrader.api import Gradebook

COURSE = ["--course-root", FIXTURES / "course"]


def grade_and_export(tmp_path):
    submitted = tmp_path / "submitted"
    for sid in ("perfect", "wrong_gradient", "blank"):
        shutil.copytree(FIXTURES / "submitted" / sid, submitted / sid)
    course = tmp_path / "course"
    done = run_cli("grade", "fx01", submitted, "--course-dir", course, "--quiet", *COURSE)
    assert done.returncode == 0, done.stderr
    done = run_cli("review", "export", "fx01", "--course-dir", course, *COURSE)
    assert done.returncode == 0, done.stderr
    return course, course / "fx01_tiny/review"


def write_sheet(path, scores):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "grade_id", "max_points", "score", "answer"])
        for sid, score in scores:
            w.writerow([sid, "relu-derivation", "2", score, "..."])


def test_export_then_import_reaches_gradebook_and_csv(tmp_path):
    course, review = grade_and_export(tmp_path)
    rows = read_csv(review / "review.csv")
    assert sorted(r["student_id"] for r in rows) == ["blank", "perfect", "wrong_gradient"]
    perfect = next(r for r in rows if r["student_id"] == "perfect")
    assert perfect["grade_id"] == "relu-derivation" and perfect["max_points"] == "2"
    assert "1 where x > 0, else 0." in perfect["answer"] and perfect["score"] == ""
    assert perfect["state"] == "pending"
    blank = next(r for r in rows if r["student_id"] == "blank")
    assert (blank["state"], blank["score"]) == ("unanswered", "")
    assert "1 where x &gt; 0" in (review / "review.html").read_text()

    write_sheet(tmp_path / "filled.csv", [("perfect", "2"), ("wrong_gradient", "1.5"),
                                          ("blank", "")])
    done = run_cli("review", "import", "fx01", tmp_path / "filled.csv",
                   "--course-dir", course, *COURSE)
    assert done.returncode == 0, done.stderr
    assert "2 hand-graded scores written" in done.stdout
    grades = {r["student_id"]: r for r in read_csv(course / "fx01_tiny/grades.csv")}
    assert (grades["perfect"]["manual_total"], grades["perfect"]["total"]) == ("2", "8")
    assert (grades["wrong_gradient"]["manual_total"],
            grades["wrong_gradient"]["total"]) == ("1.5", "4.5")
    assert grades["blank"]["manual_total"] == "0"  # "YOUR ANSWER HERE": 0 automatically
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_grade("relu-derivation", "fx01_tiny", "fx01_tiny",
                             "wrong_gradient").manual_score == 1.5


def test_a_bad_sheet_names_every_bad_row_and_writes_nothing(tmp_path):
    course, _ = grade_and_export(tmp_path)
    write_sheet(tmp_path / "bad.csv", [("perfect", "2"), ("perfect", "5"), ("nobody", "1"),
                                       ("wrong_gradient", "lots")])
    done = run_cli("review", "import", "fx01", tmp_path / "bad.csv", "--course-dir", course,
                   *COURSE)
    assert done.returncode == 2
    assert "3 bad row(s)" in done.stderr
    assert "bad.csv:3: score 5 is outside 0..2" in done.stderr
    assert "bad.csv:4: unknown student 'nobody'" in done.stderr
    assert "bad.csv:5: score 'lots' is not a number" in done.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_grade("relu-derivation", "fx01_tiny", "fx01_tiny",
                             "perfect").manual_score is None
