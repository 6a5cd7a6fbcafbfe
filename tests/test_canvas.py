"""Canvas in and out: a bulk-download zip and a Canvas roster in, canvas_grades.csv out."""

import csv
import zipfile

from grading_helpers import FIXTURES, leave_derivation_unanswered, read_csv, run_cli

ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,PS1 (4242)
    Points Possible,,,,,8
"Pat, Perfect",101,s101,perfect_pat,Lab A,
"Grad, Wrong",102,s102,wrong_grad,Lab A,
"Al, Absent",103,s103,al,Lab B,
"Student, Test",199,,,Lab A,
"""


def nb(sid, tmp_path):
    """The fixture's notebook with its derivation unanswered (so totals are final)."""
    return leave_derivation_unanswered(
        FIXTURES / "submitted" / sid / "fx01_tiny/fx01_tiny.ipynb", tmp_path / f"{sid}.ipynb")


def make_zip(path):
    tmp = path.parent
    with zipfile.ZipFile(path, "w") as z:
        # the first submission of Pat was blank; the resubmission (higher id) counts
        z.writestr(zipfile.ZipInfo("pat_101_9000_fx01_tiny.ipynb", (2026, 11, 19, 9, 0, 0)),
                   nb("blank", tmp))
        z.writestr(zipfile.ZipInfo("pat_101_9005_fx01_tiny-1.ipynb", (2026, 11, 20, 9, 0, 0)),
                   nb("perfect", tmp))
        z.writestr(zipfile.ZipInfo("grad_LATE_102_9001_fx01_tiny.ipynb",
                                   (2026, 11, 22, 8, 0, 0)), nb("wrong_gradient", tmp))
        z.writestr("../../escape_103_1_fx01_tiny.ipynb", nb("perfect", tmp))
        # the instructor tried the assignment in Canvas's student view
        z.writestr("studenttest_199_9009_fx01_tiny.ipynb", nb("perfect", tmp))
        z.writestr("notes.txt", b"not a notebook")


def test_a_canvas_zip_and_roster_in_canvas_csv_out(tmp_path):
    make_zip(tmp_path / "submissions.zip")
    (tmp_path / "roster.csv").write_text(ROSTER)
    (tmp_path / "late.toml").write_text('due = 2026-11-20T23:59:00+00:00\n'
                                        'policy = "percent_per_day"\npercent = 10\n')
    done = run_cli("grade", "fx01", tmp_path / "submissions.zip", "--roster",
                   tmp_path / "roster.csv", "--course-root", FIXTURES / "course",
                   "--course-dir", tmp_path / "course", "--canvas-column", "PS1 (4242)",
                   "--late-config", tmp_path / "late.toml", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "skipped ../../escape_103_1_fx01_tiny.ipynb" in done.stdout
    assert "skipped notes.txt" in done.stdout
    assert "skipped studenttest_199_9009_fx01_tiny.ipynb: Canvas's Test Student" in done.stdout
    assert not (tmp_path / "escape_103_1_fx01_tiny.ipynb").exists()
    rows = {r["student_id"]: r for r in read_csv(tmp_path / "course/fx01_tiny/grades.csv")}
    assert set(rows) == {"perfect_pat", "wrong_grad", "al"}  # no Test Student
    assert rows["perfect_pat"]["total"] == "6"  # the resubmission, not the blank one
    assert rows["wrong_grad"]["total"] == "2.4"  # 3 points, 1 day 8 h late: 2 days, -20%
    assert rows["al"]["status"] == "missing"
    with open(tmp_path / "course/fx01_tiny/canvas_grades.csv", newline="") as f:
        out = list(csv.reader(f))
    assert out[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                      "PS1 (4242)"]
    assert out[1][0] == "Points Possible" and out[1][-1] == "8"
    assert out[2] == ["Pat, Perfect", "101", "s101", "perfect_pat", "Lab A", "6"]
    # a student without a submission is left blank (no grade), not given a 0
    assert out[3][-1] == "2.4" and out[4] == ["Al, Absent", "103", "s103", "al", "Lab B", ""]
    assert len(out) == 5  # the Test Student is not in Canvas's import either


def test_pending_hand_grades_are_blank_in_canvas_and_pending_in_grades(tmp_path):
    """A written derivation nobody has graded yet: no total that looks final."""
    with zipfile.ZipFile(tmp_path / "submissions.zip", "w") as z:
        z.writestr("pat_101_9005_fx01_tiny.ipynb",
                   (FIXTURES / "submitted/perfect/fx01_tiny/fx01_tiny.ipynb").read_bytes())
    (tmp_path / "roster.csv").write_text(ROSTER)
    done = run_cli("grade", "fx01", tmp_path / "submissions.zip", "--roster",
                   tmp_path / "roster.csv", "--course-root", FIXTURES / "course",
                   "--course-dir", tmp_path / "course", "--quiet")
    assert done.returncode == 0, done.stderr
    row = read_csv(tmp_path / "course/fx01_tiny/grades.csv")[0]
    assert (row["student_id"], row["auto_total"], row["manual_total"], row["total"]) == \
        ("perfect_pat", "6", "pending", "")
    with open(tmp_path / "course/fx01_tiny/canvas_grades.csv", newline="") as f:
        out = list(csv.reader(f))
    assert out[2][:4] == ["Pat, Perfect", "101", "s101", "perfect_pat"] and out[2][-1] == ""


def test_a_corrupt_zip_is_one_clear_line(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    done = run_cli("grade", "fx01", tmp_path / "bad.zip", "--course-root",
                   FIXTURES / "course", "--course-dir", tmp_path / "course")
    assert done.returncode == 2 and "is not a readable zip file" in done.stderr
    assert "Traceback" not in done.stderr
