"""Nothing an instructor entered is lost, and nothing not yet graded pretends to be.

Hand scores survive re-runs, ``--force``, review export and import, a gradebook changed
or deleted behind autograder's back, and grader processes started together on one course
folder (the second waits for the first, in one line). An unanswered derivation scores 0
by itself (a hand score still overrides it); a written one nobody graded yet is
``pending`` in grades.csv, with no total. ``nbgrader export`` gives grades.csv's totals.
"""

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import time

from grading_helpers import AUTOGRADER, FIXTURES, read_csv, run_cli, write_review_sheet

from autograder.lock import course_lock

COURSE = ["--course-root", FIXTURES / "course"]
HAND_SCORES = """
    SELECT st.id, bc.name, g.manual_score FROM grade g
    JOIN submitted_notebook sn ON g.notebook_id = sn.id
    JOIN submitted_assignment sa ON sn.assignment_id = sa.id
    JOIN assignment a ON sa.assignment_id = a.id
    JOIN student st ON sa.student_id = st.id
    JOIN base_cell bc ON g.cell_id = bc.id
    WHERE a.name = ?"""


def small_class(tmp_path, *sids):
    submitted = tmp_path / "submitted"
    for sid in sids or ("perfect", "wrong_gradient", "blank"):
        shutil.copytree(FIXTURES / "submitted" / sid, submitted / sid)
    return submitted


def grade(submitted, course, *extra, assignment="fx01"):
    done = run_cli("grade", assignment, submitted, "--course-dir", course, "--quiet",
                   *COURSE, *extra)
    assert done.returncode == 0, done.stderr
    return done


def import_sheet(course, sheet, assignment="fx01"):
    done = run_cli("review", "import", assignment, sheet, "--course-dir", course, *COURSE)
    assert done.returncode == 0, done.stderr
    return done


def grades(course, folder="fx01_tiny"):
    return {r["student_id"]: r for r in read_csv(course / folder / "grades.csv")}


def totals(course, folder="fx01_tiny"):
    return {sid: (r["manual_total"], r["total"]) for sid, r in grades(course, folder).items()}


def hand_scores(course, assignment="fx01_tiny"):
    """{(student, cell): manual_score} of every grade row of the set in the gradebook."""
    with sqlite3.connect(course / "gradebook.db") as db:
        return {(s, c): m for s, c, m in db.execute(HAND_SCORES, (assignment,))}


def test_hand_scores_survive_reruns_force_and_review_round_trips(tmp_path):
    submitted, course = small_class(tmp_path), tmp_path / "course"
    grade(submitted, course)
    # perfect and wrong_gradient wrote a derivation nobody has graded: pending, no total;
    # blank left "YOUR ANSWER HERE": 0 by itself, as nbgrader does
    assert totals(course) == {"perfect": ("pending", ""), "wrong_gradient": ("pending", ""),
                              "blank": ("0", "0")}
    write_review_sheet(tmp_path / "scores.csv", [("perfect", "2"), ("wrong_gradient", "1.5")])
    import_sheet(course, tmp_path / "scores.csv")
    graded = {"perfect": ("2", "8"), "wrong_gradient": ("1.5", "4.5"), "blank": ("0", "0")}
    assert totals(course) == graded

    grade(submitted, course)  # nothing changed
    assert totals(course) == graded
    grade(submitted, course, "--force")  # everyone regraded
    assert totals(course) == graded
    scores = hand_scores(course)
    assert scores.pop(("perfect", "relu-derivation")) == 2
    assert scores.pop(("wrong_gradient", "relu-derivation")) == 1.5
    assert set(scores.values()) == {None}  # autograder writes no other hand score

    # export shows what was entered; importing the exported sheet as it is changes nothing
    done = run_cli("review", "export", "fx01", "--course-dir", course, *COURSE)
    assert done.returncode == 0, done.stderr
    sheet = course / "fx01_tiny/review/review.csv"
    rows = {r["student_id"]: r for r in read_csv(sheet)}
    assert (rows["perfect"]["score"], rows["perfect"]["state"]) == ("2", "graded")
    assert (rows["wrong_gradient"]["score"], rows["wrong_gradient"]["state"]) == \
        ("1.5", "graded")
    assert (rows["blank"]["score"], rows["blank"]["state"]) == ("", "unanswered")
    assert "2 hand-graded scores written" in import_sheet(course, sheet).stdout
    assert totals(course) == graded

    # a human can still give the unanswered derivation points; --force keeps them
    write_review_sheet(tmp_path / "blank.csv", [("blank", "1")])
    import_sheet(course, tmp_path / "blank.csv")
    grade(submitted, course, "--force")
    assert totals(course) == {**graded, "blank": ("1", "1")}
    page = (course / "fx01_tiny/feedback/blank.html").read_text()
    assert "1 / 2" in page


def test_a_gradebook_changed_or_deleted_behind_autograders_back_is_put_back(tmp_path):
    """What the instructor's review saw (every grade row of ps01 with manual_score 0.0,
    kept by --force) is what a notebook run without a sandbox does with the statements of
    tests/fixtures/hostile/gradebook_tamper; the entered scores come back, pending stays
    pending, with one line saying so."""
    submitted, course = small_class(tmp_path), tmp_path / "course"
    grade(submitted, course)
    write_review_sheet(tmp_path / "scores.csv", [("perfect", "2")])
    import_sheet(course, tmp_path / "scores.csv")
    with sqlite3.connect(course / "gradebook.db") as db:
        db.execute("UPDATE grade SET auto_score = 0")
        db.execute("UPDATE grade SET manual_score = 0")
    assert set(hand_scores(course).values()) == {0.0}

    done = grade(submitted, course)
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    # 3 students x 4 cells, all 0 in the gradebook; only perfect's derivation was entered
    assert len(warnings) == 1 and "12 hand score(s) in the gradebook differed" in warnings[0]
    assert "hand-scores.csv" in warnings[0]
    assert totals(course) == {"perfect": ("2", "8"), "wrong_gradient": ("pending", ""),
                              "blank": ("0", "0")}
    scores = hand_scores(course)
    assert scores.pop(("perfect", "relu-derivation")) == 2
    assert set(scores.values()) == {None}
    again = grade(submitted, course, "--force")
    assert "warning:" not in again.stdout  # put back once, for good

    (course / "gradebook.db").unlink()  # even a lost gradebook loses no hand score
    grade(submitted, course)
    assert totals(course)["perfect"] == ("2", "8")
    assert hand_scores(course)[("perfect", "relu-derivation")] == 2


def test_nbgrader_export_gives_the_totals_of_grades_csv(tmp_path):
    submitted, course = small_class(tmp_path), tmp_path / "course"
    (submitted / "perfect/fx01_tiny/timestamp.txt").write_text("2026-11-20 22:00:00 UTC")
    (submitted / "wrong_gradient/fx01_tiny/timestamp.txt").write_text(
        "2026-11-21 10:00:00 UTC")  # 1 started day late: -10%
    (submitted / "blank/fx01_tiny/timestamp.txt").write_text("2026-11-20 22:00:00 UTC")
    late = tmp_path / "late.toml"
    late.write_text('due = 2026-11-20T23:59:00+00:00\npolicy = "percent_per_day"\n'
                    'percent = 10\n')
    grade(submitted, course, "--late-config", late)
    write_review_sheet(tmp_path / "scores.csv", [("perfect", "2"), ("wrong_gradient", "1.5")])
    import_sheet(course, tmp_path / "scores.csv")
    mine = grades(course)
    # by hand: wrong_gradient 3 + 1.5 = 4.5 earned, 10% of it off
    assert (mine["wrong_gradient"]["late_penalty"], mine["wrong_gradient"]["total"]) == \
        ("0.45", "4.05")
    out = tmp_path / "nbgrader.csv"
    subprocess.run([shutil.which("nbgrader", path=os.path.dirname(AUTOGRADER)), "export",
                    "--db", f"sqlite:///{course / 'gradebook.db'}", "--to", str(out)],
                   cwd=tmp_path, check=True, capture_output=True, timeout=300)
    theirs = {r["student_id"]: r for r in read_csv(out)}
    assert set(theirs) == set(mine)
    for sid, row in mine.items():
        assert abs(float(theirs[sid]["score"]) - float(row["total"])) < 1e-9, sid
        assert abs(float(theirs[sid]["late_submission_penalty"]) -
                   float(row["late_penalty"])) < 1e-9, sid
    assert theirs["wrong_gradient"]["timestamp"].startswith("2026-11-21 10:00:00")
    assert theirs["wrong_gradient"]["duedate"].startswith("2026-11-20 23:59:00")


def _wait_for_line(path, text, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        assert proc.poll() is None, f"ended without printing {text!r}: {path.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in {path}")


def test_graders_started_together_on_one_course_folder_wait_and_lose_nothing(tmp_path):
    submitted, course = small_class(tmp_path), tmp_path / "course"
    grade(submitted, course)
    write_review_sheet(tmp_path / "scores.csv", [("perfect", "2")])
    import_sheet(course, tmp_path / "scores.csv")
    write_review_sheet(tmp_path / "more.csv", [("wrong_gradient", "1")])
    base = ["--course-dir", str(course), "--course-root", str(FIXTURES / "course")]
    commands = {  # two sets, a forced and a plain re-run, and a review import, at once
        "force": ["grade", "fx01", str(submitted), "--force", "--quiet", *base],
        "rerun": ["grade", "fx01", str(submitted), "--quiet", *base],
        "fx03": ["grade", "fx03", str(FIXTURES / "submitted_fx03"), "--quiet", *base],
        "import": ["review", "import", "fx01", str(tmp_path / "more.csv"), *base],
    }
    procs = {}
    with course_lock(course, "test holding the folder"):  # so that every one must wait
        for name, args in commands.items():
            with open(tmp_path / f"{name}.out", "w") as out:
                procs[name] = subprocess.Popen([AUTOGRADER, *args], stdout=out,
                                               stderr=subprocess.STDOUT, text=True)
        for name, proc in procs.items():
            _wait_for_line(tmp_path / f"{name}.out", "waiting for another autograder run",
                           proc)
    for name, proc in procs.items():
        assert proc.wait(timeout=600) == 0, (tmp_path / f"{name}.out").read_text()
        output = (tmp_path / f"{name}.out").read_text()
        waits = [line for line in output.splitlines() if line.startswith("waiting for")]
        assert len(waits) >= 1 and all(str(course) in line for line in waits), output
        assert "Traceback" not in output and "unexpected error" not in output
    first = (tmp_path / "force.out").read_text().splitlines()[0]
    assert re.search(r"\(pid \d+: autograder (test holding the folder|grade fx0\d_\w+|"
                     r"review import fx01), started [\d:\- ]+\)", first), first
    assert totals(course) == {"perfect": ("2", "8"), "wrong_gradient": ("1", "4"),
                              "blank": ("0", "0")}
    assert totals(course, "fx03_square") == {"perfect": ("pending", ""), "blank": ("0", "0")}
    assert hand_scores(course)[("perfect", "relu-derivation")] == 2
    assert (course / ".lock").read_text() == ""  # nobody holds it now


def test_review_export_prints_an_import_command_that_works_as_printed(tmp_path):
    submitted, course = small_class(tmp_path), tmp_path / "elsewhere/course"
    grade(submitted, course)
    here, other = tmp_path / "here", tmp_path / "other"
    here.mkdir()
    other.mkdir()
    done = run_cli("review", "export", "fx01", "--course-dir", course, *COURSE, cwd=here)
    assert done.returncode == 0, done.stderr
    command = done.stdout.splitlines()[-1].strip()
    words = shlex.split(command)
    assert words[:3] == ["autograder", "review", "import"]
    sheet = course / "fx01_tiny/review/review.csv"
    rows = read_csv(sheet)
    for row in rows:
        row["score"] = "2" if row["student_id"] == "perfect" else ""
    write_review_sheet(sheet, [(r["student_id"], r["score"]) for r in rows])
    env = {**os.environ, "PATH": f"{os.path.dirname(AUTOGRADER)}:{os.environ['PATH']}"}
    ran = subprocess.run(command, shell=True, cwd=other, env=env, capture_output=True,
                         text=True, timeout=600)  # pasted into a shell elsewhere
    assert ran.returncode == 0, ran.stderr
    assert "1 hand-graded scores written" in ran.stdout
    assert totals(course)["perfect"] == ("2", "8")
    assert not (other / "course").exists() and not (here / "course").exists()


def test_fewer_options_than_the_last_run_warn_in_one_line(tmp_path):
    submitted, course = small_class(tmp_path), tmp_path / "course"
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\nperfect\nwrong_gradient\nblank\nabsent\n")
    late = tmp_path / "late.toml"
    late.write_text('due = 2026-11-20T23:59:00+00:00\npolicy = "zero"\n')
    db = f"sqlite:///{tmp_path / 'other.db'}"
    first = grade(submitted, course, "--roster", roster, "--late-config", late, "--db", db)
    # the first run says what it does, and claims nothing was graded before
    lines = first.stdout.splitlines()
    assert any(re.fullmatch(r"Grading 3 submission\(s\) with \d worker\(s\); "
                            r"1 without a notebook", line) for line in lines), lines
    assert "already graded" not in first.stdout and "warning:" not in first.stdout
    again = grade(submitted, course)  # no roster, no late policy, the default gradebook
    warnings = [line for line in again.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, again.stdout
    assert f"--roster {roster}" in warnings[0] and f"--late-config {late}" in warnings[0]
    assert f"--db {db}" in warnings[0]
    assert "absent" not in grades(course)  # the run did what it was told
    third = grade(submitted, course, "--roster", roster, "--late-config", late, "--db", db)
    assert "warning:" not in third.stdout
