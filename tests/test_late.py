"""Late work: due date, extensions and penalty policies from a TOML file, applied to the
CSV and the feedback, recomputed without regrading when the policy changes."""

import shutil

from grading_helpers import FIXTURES, leave_derivation_unanswered, read_csv, run_cli

DUE = "2026-11-20T23:59:00+00:00"
# nbgrader's timestamp.txt format; the due date is 2026-11-20 23:59 UTC
STAMPS = {
    "perfect": "2026-11-20 22:00:00.000000 UTC",          # on time
    "wrong_gradient": "2026-11-21 10:00:00.000000 UTC",   # 10 h late: 1 started day
    "partly_right": "2026-11-24 12:00:00.000000 UTC",     # 3.5 days: 4 started days
    "constant_forward": "2026-11-22 12:00:00.000000 UTC",  # 1.5 days, extension of 3
}


def setup_class(tmp_path, policy):
    submitted = tmp_path / "submitted"
    for sid, stamp in STAMPS.items():
        folder = submitted / sid / "fx01_tiny"
        shutil.copytree(FIXTURES / "submitted" / sid / "fx01_tiny", folder)
        # no hand-graded answer: the totals below are final (else they are pending)
        leave_derivation_unanswered(folder / "fx01_tiny.ipynb")
        (folder / "timestamp.txt").write_text(stamp + "\n")
    config = tmp_path / "late.toml"
    config.write_text(f'due = {DUE}\n{policy}\n\n[extensions]\nconstant_forward = 3\n')
    return submitted, config


def grade(submitted, config, course):
    done = run_cli("grade", "fx01", submitted, "--course-root", FIXTURES / "course",
                   "--course-dir", course, "--late-config", config, "--quiet")
    assert done.returncode == 0, done.stderr
    return done, {r["student_id"]: r for r in read_csv(course / "fx01_tiny/grades.csv")}


def test_percent_per_day_with_a_cap_and_an_extension(tmp_path):
    submitted, config = setup_class(tmp_path, 'policy = "percent_per_day"\npercent = 10\n'
                                              'cap = 30')
    _, rows = grade(submitted, config, tmp_path / "course")
    # auto totals by hand: perfect 6, wrong_gradient 3, partly_right 5, constant_forward 4
    assert (rows["perfect"]["late_penalty"], rows["perfect"]["total"]) == ("0", "6")
    assert (rows["wrong_gradient"]["late_penalty"], rows["wrong_gradient"]["total"]) == \
        ("0.3", "2.7")  # 1 day: 10% of 3
    assert (rows["partly_right"]["late_penalty"], rows["partly_right"]["total"]) == \
        ("1.5", "3.5")  # 4 days: 40%, capped at 30% of 5
    assert rows["constant_forward"]["late_penalty"] == "0"  # within its extension
    page = (tmp_path / "course/fx01_tiny/feedback/partly_right.html").read_text()
    assert "submitted 4 days late: -30% of the points" in page


def test_changing_the_policy_recomputes_penalties_without_regrading(tmp_path):
    submitted, config = setup_class(tmp_path, 'policy = "none"')
    course = tmp_path / "course"
    _, rows = grade(submitted, config, course)
    assert rows["partly_right"]["late_penalty"] == "0" and rows["partly_right"]["total"] == "5"
    config.write_text(f'due = {DUE}\npolicy = "zero"\n\n[extensions]\nconstant_forward = 3\n')
    done, rows = grade(submitted, config, course)
    assert "0 run now" in done.stdout
    assert rows["partly_right"]["total"] == "0" and rows["wrong_gradient"]["total"] == "0"
    assert rows["perfect"]["total"] == "6" and rows["constant_forward"]["total"] == "4"


def test_a_bad_late_file_is_one_clear_line(tmp_path):
    submitted, config = setup_class(tmp_path, 'policy = "sometimes"')
    done = run_cli("grade", "fx01", submitted, "--course-root", FIXTURES / "course",
                   "--course-dir", tmp_path / "course", "--late-config", config)
    assert done.returncode == 2
    assert "policy must be one of none, zero, percent_per_day" in done.stderr
    config.write_text('due = 2026-11-20T23:59:00\n')
    done = run_cli("grade", "fx01", submitted, "--course-root", FIXTURES / "course",
                   "--course-dir", tmp_path / "course", "--late-config", config)
    assert done.returncode == 2 and "needs a time zone" in done.stderr
