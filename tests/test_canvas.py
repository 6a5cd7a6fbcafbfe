"""Canvas in and out: a bulk-download zip and a Canvas roster in, canvas_grades.csv out."""

import csv
import zipfile

from grading_helpers import FIXTURES, read_csv, run_cli

ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,PS1 (4242)
    Points Possible,,,,,8
"Pat, Perfect",101,s101,perfect_pat,Lab A,
"Grad, Wrong",102,s102,wrong_grad,Lab A,
"Al, Absent",103,s103,al,Lab B,
"""


def nb(sid):
    return (FIXTURES / "submitted" / sid / "fx01_tiny/fx01_tiny.ipynb").read_bytes()


def make_zip(path):
    with zipfile.ZipFile(path, "w") as z:
        # the first submission of Pat was blank; the resubmission (higher id) counts
        z.writestr(zipfile.ZipInfo("pat_101_9000_fx01_tiny.ipynb", (2026, 11, 19, 9, 0, 0)),
                   nb("blank"))
        z.writestr(zipfile.ZipInfo("pat_101_9005_fx01_tiny-1.ipynb", (2026, 11, 20, 9, 0, 0)),
                   nb("perfect"))
        z.writestr(zipfile.ZipInfo("grad_LATE_102_9001_fx01_tiny.ipynb",
                                   (2026, 11, 22, 8, 0, 0)), nb("wrong_gradient"))
        z.writestr("../../escape_103_1_fx01_tiny.ipynb", nb("perfect"))
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
    assert not (tmp_path / "escape_103_1_fx01_tiny.ipynb").exists()
    rows = {r["student_id"]: r for r in read_csv(tmp_path / "course/fx01_tiny/grades.csv")}
    assert set(rows) == {"perfect_pat", "wrong_grad", "al"}
    assert rows["perfect_pat"]["total"] == "6"  # the resubmission, not the blank one
    assert rows["wrong_grad"]["total"] == "2.4"  # 3 points, 1 day 8 h late: 2 days, -20%
    assert rows["al"]["status"] == "missing"
    with open(tmp_path / "course/fx01_tiny/canvas_grades.csv", newline="") as f:
        out = list(csv.reader(f))
    assert out[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                      "PS1 (4242)"]
    assert out[1][0] == "Points Possible" and out[1][-1] == "8"
    assert out[2] == ["Pat, Perfect", "101", "s101", "perfect_pat", "Lab A", "6"]
    assert out[3][-1] == "2.4" and out[4][:2] == ["Al, Absent", "103"]


def test_a_corrupt_zip_is_one_clear_line(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    done = run_cli("grade", "fx01", tmp_path / "bad.zip", "--course-root",
                   FIXTURES / "course", "--course-dir", tmp_path / "course")
    assert done.returncode == 2 and "is not a readable zip file" in done.stderr
    assert "Traceback" not in done.stderr
