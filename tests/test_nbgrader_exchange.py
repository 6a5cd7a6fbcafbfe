"""Feedback through nbgrader's own exchange: a JupyterHub course collects with nbgrader,
grades with `autograder grade`, writes our pages with autograder.lms.nbgrader_exchange,
and hands them back with `nbgrader release_feedback` / `nbgrader fetch_feedback`.

The end-to-end test runs the real nbgrader commands as subprocesses, each person with a
home and Jupyter folders of their own, against a local exchange folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from grading_helpers import AUTOGRADER, FIXTURES, read_csv

from autograder.errors import GraderError
from autograder.lms import nbgrader_exchange as exchange

NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
COURSE_ID = "dl101"
SET = "fx01_tiny"
STUB = FIXTURES / "submitted" / "blank" / SET / f"{SET}.ipynb"  # the released notebook
WORK = FIXTURES / "submitted" / "perfect" / SET / f"{SET}.ipynb"  # every part right


@dataclass
class Person:
    """Someone on the hub: their own home, Jupyter config and data folders."""

    name: str
    home: Path
    config_dir: Path

    def env(self) -> dict:
        return {**os.environ, "HOME": str(self.home),
                "JUPYTER_CONFIG_DIR": str(self.config_dir),
                "JUPYTER_DATA_DIR": str(self.home / ".local/share/jupyter"),
                "JUPYTER_RUNTIME_DIR": str(self.home / ".local/share/jupyter/runtime")}

    def start(self, *args: str, cwd: Path | None = None) -> subprocess.Popen:
        return subprocess.Popen([NBGRADER, *args], cwd=cwd or self.home, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_together(*procs: subprocess.Popen) -> list[str]:
    """Wait for nbgrader commands started side by side; each must succeed. Their logs."""
    logs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{proc.args}: {out}"
        logs.append(out)
    return logs


def write_config(path: Path, **settings: str) -> None:
    lines = ["c = get_config()  # noqa: F821"]
    lines += [f"c.{key.replace('__', '.')} = {value!r}" for key, value in settings.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def page_for(student: str) -> str:
    return (f"<!DOCTYPE html><html><body><h1>{SET}</h1><p>feedback for {student}</p>"
            f"<p>marker-{student}-7f3a</p></body></html>\n")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The whole round: release, two students submit, collect, grade, write our pages,
    release feedback, both students fetch it."""
    tmp = tmp_path_factory.mktemp("hub")
    exchange_root = tmp / "exchange"
    exchange_root.mkdir()
    course = tmp / "course"
    write_config(course / "nbgrader_config.py", CourseDirectory__root=str(course),
                 CourseDirectory__course_id=COURSE_ID, Exchange__root=str(exchange_root))
    (course / "release" / SET).mkdir(parents=True)
    shutil.copy(STUB, course / "release" / SET)
    # The students' hub-wide config, as /etc/jupyter/nbgrader_config.py would hold it.
    students_config = tmp / "students_config"
    write_config(students_config / "nbgrader_config.py",
                 CourseDirectory__course_id=COURSE_ID, Exchange__root=str(exchange_root))
    people = {}
    for name, config_dir in (("instructor", tmp / "instructor_config"),
                             ("alice", students_config), ("bob", students_config)):
        (tmp / "home" / name).mkdir(parents=True)
        config_dir.mkdir(exist_ok=True)
        people[name] = Person(name, tmp / "home" / name, config_dir)
    instructor, alice, bob = people["instructor"], people["alice"], people["bob"]

    run_together(instructor.start("release_assignment", SET, cwd=course))
    run_together(alice.start("fetch_assignment", SET, "--student", "alice"))
    shutil.copytree(alice.home / SET, bob.home / SET)  # bob got the same release
    shutil.copy(WORK, alice.home / SET / f"{SET}.ipynb")  # alice did the work, bob did not
    run_together(alice.start("submit", SET, "--student", "alice"),
                 bob.start("submit", SET, "--student", "bob"))
    run_together(instructor.start("collect", SET, cwd=course))

    # The instructor grades in the course root, as the README says: grade writes each
    # student's page where release_feedback finds it.
    grading = subprocess.run(
        [AUTOGRADER, "grade", "fx01", "submitted", "--course-root", FIXTURES / "course",
         "--course-dir", tmp / "graded", "--quiet"], cwd=course, env=instructor.env(),
        capture_output=True, text=True, timeout=600)
    with pytest.MonkeyPatch.context() as mp:  # read the config as the instructor's nbgrader
        mp.setenv("JUPYTER_CONFIG_DIR", str(instructor.config_dir))
        check = exchange.check_exchange(course / "submitted")
        # bob's page is replaced by one written with the adapter itself
        written = exchange.write_feedback(check.course, SET, "bob", SET, page_for("bob"))
    released, = run_together(instructor.start("release_feedback", SET, cwd=course))
    run_together(alice.start("fetch_feedback", SET, "--student", "alice"),
                 bob.start("fetch_feedback", SET, "--student", "bob"))
    return {"tmp": tmp, "course": course, "exchange": exchange_root, "people": people,
            "check": check, "written": written, "released_log": released,
            "grading": grading}


def fetched_pages(hub, sid: str) -> list[Path]:
    """The feedback pages ``nbgrader fetch_feedback`` put in the student's folder."""
    return list((hub["people"][sid].home / SET / "feedback").glob(f"*/{SET}.html"))


def test_a_student_fetches_the_page_written_by_the_adapter(hub):
    pages = fetched_pages(hub, "bob")
    assert len(pages) == 1, pages
    assert pages[0].read_text() == page_for("bob")
    # filed under the time of the submission nbgrader collected
    stamp = (hub["course"] / "submitted" / "bob" / SET / "timestamp.txt").read_text()
    assert pages[0].parent.name == stamp.strip()


def test_a_student_fetches_the_page_autograder_grade_wrote(hub):
    pages = fetched_pages(hub, "alice")
    assert len(pages) == 1, (pages, hub["grading"].stdout)
    ours = (hub["tmp"] / "graded" / SET / "feedback" / "alice.html").read_text()
    assert pages[0].read_text() == ours
    assert "alice" in ours and "6 / 8" in ours  # her score: every automatic part right


def test_released_pages_are_named_by_the_secret_and_readable_by_students(hub):
    feedback = hub["exchange"] / COURSE_ID / "feedback"
    secret = (hub["course"] / "submitted" / "bob" / SET / "submission_secret.txt").read_text()
    name = hashlib.md5((secret + SET).encode()).hexdigest()  # nbgrader's notebook_hash
    assert (feedback / f"{name}.html").read_text() == page_for("bob")
    for path in feedback.glob("*.html"):
        assert path.stat().st_mode & 0o777 == 0o644  # the exchange copies the mode
    assert "Could not match" not in hub["released_log"]
    assert not list(feedback.glob("*-tmp.html"))


def test_release_feedback_needs_no_gradebook_row(hub):
    from nbgrader.api import Gradebook

    # only nbgrader collect opened this course's gradebook: no assignment, no submission
    with Gradebook(f"sqlite:///{hub['course'] / 'gradebook.db'}", COURSE_ID) as gb:
        assert gb.assignments == [] and gb.students == []
    assert fetched_pages(hub, "bob")


def test_the_page_is_filed_as_release_feedback_expects(hub):
    course = hub["course"]
    assert hub["check"] == exchange.ExchangeCheck(exchange.NbgraderCourse(course),
                                                  in_nbgrader_course=True)
    assert exchange.exchange_course_root(course / "submitted") == course
    page = course / "feedback" / "bob" / SET / f"{SET}.html"
    assert hub["written"] == page
    assert exchange.feedback_path(course, SET, "bob", SET) == page
    for name in ("timestamp.txt", "submission_secret.txt"):
        assert (page.parent / name).read_bytes() == \
            (course / "submitted" / "bob" / SET / name).read_bytes()
    assert sorted(p.name for p in page.parent.iterdir()) == \
        [f"{SET}.html", "submission_secret.txt", "timestamp.txt"]  # no temporary file left


def test_autograder_grades_the_tree_nbgrader_collected(hub):
    assert hub["grading"].returncode == 0, hub["grading"].stderr
    rows = {r["student_id"]: r for r in read_csv(hub["tmp"] / "graded" / SET / "grades.csv")}
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"]["auto_total"] == "6"  # every part right
    assert rows["alice"]["status"] == "ok"
    assert rows["bob"]["auto_total"] == "0"  # the release as it was


# --- deciding whether a submissions folder is an nbgrader course's submitted/ tree ---

def make_course(root: Path, **settings: str) -> Path:
    write_config(root / "nbgrader_config.py", **settings)
    return root


def collected(course: Path, sid: str, folder: str = "submitted", secret: bool = True) -> Path:
    """A submission as nbgrader collect leaves it (``secret``: with its secret)."""
    sub = course / folder / sid / SET
    sub.mkdir(parents=True)
    shutil.copy(WORK, sub)
    (sub / "timestamp.txt").write_text("2026-11-20 22:00:00.000000 UTC")
    if secret:
        (sub / "submission_secret.txt").write_text(f"secret-of-{sid}")
    return sub


@pytest.fixture
def no_hub_config(tmp_path, monkeypatch):
    """An empty Jupyter config folder, so no config of this machine's user is read."""
    folder = tmp_path / "jupyter_config"
    folder.mkdir()
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(folder))
    return folder


def test_folders_that_are_not_an_nbgrader_submitted_tree(tmp_path, no_hub_config):
    flat = tmp_path / "flat"
    flat.mkdir()
    check = exchange.check_exchange(flat)
    assert check.course is None
    assert f"{tmp_path} has no nbgrader_config.py" in check.why_not
    assert not check.in_nbgrader_course  # a plain folder: nothing worth saying
    notebook = collected(make_course(tmp_path / "c1"), "ann") / f"{SET}.ipynb"
    assert "is not a folder" in exchange.check_exchange(notebook).why_not
    course = make_course(tmp_path / "c2", CourseDirectory__root=".")
    (course / "autograded").mkdir()
    check = exchange.check_exchange(course / "autograded")
    assert "collects into submitted/, not autograded/" in check.why_not
    assert check.in_nbgrader_course and check.course is None
    elsewhere = make_course(tmp_path / "c3", CourseDirectory__root=str(tmp_path / "c1"))
    (elsewhere / "submitted").mkdir()
    why = exchange.check_exchange(elsewhere / "submitted").why_not
    assert f"sets CourseDirectory.root to {tmp_path / 'c1'}" in why
    assert exchange.exchange_course_root(elsewhere / "submitted") is None
    custom = make_course(tmp_path / "c4",
                         CourseDirectory__directory_structure="{student_id}/{assignment_id}")
    (custom / "submitted").mkdir()
    assert "directory_structure" in exchange.check_exchange(custom / "submitted").why_not
    broken = tmp_path / "c5"
    (broken / "submitted").mkdir(parents=True)
    (broken / "nbgrader_config.py").write_text("c = get_config()\nc.Oops = undefined\n")
    assert "cannot read nbgrader config" in exchange.check_exchange(broken / "submitted").why_not


def test_the_course_config_names_the_folders(tmp_path, no_hub_config):
    course = make_course(tmp_path / "course", CourseDirectory__submitted_directory="collected",
                         CourseDirectory__feedback_directory="returned")
    sub = collected(course, "ann", folder="collected")
    (course / "submitted").mkdir()
    assert exchange.exchange_course_root(course / "submitted") is None
    assert exchange.exchange_course_root(course / "collected") == course
    page = exchange.write_feedback(course, SET, "ann", SET, "<p>ann</p>")
    assert page == course / "returned" / "ann" / SET / f"{SET}.html"
    assert (page.parent / "submission_secret.txt").read_text() == "secret-of-ann"
    assert page.stat().st_mode & 0o777 == 0o644
    assert sub.is_dir()


def test_a_hub_wide_config_is_read_and_the_course_config_wins(tmp_path, no_hub_config):
    write_config(no_hub_config / "nbgrader_config.py", CourseDirectory__groupshared=True,
                 CourseDirectory__feedback_directory="hub_feedback",
                 CourseDirectory__submitted_directory="hub_submitted")
    course = make_course(tmp_path / "course", CourseDirectory__submitted_directory="mine")
    collected(course, "ann", folder="mine")
    assert exchange.exchange_course_root(course / "mine") == course
    page = exchange.write_feedback(course, SET, "ann", SET, "<p>ann</p>")
    assert page == course / "hub_feedback" / "ann" / SET / f"{SET}.html"
    assert page.stat().st_mode & 0o777 == 0o664  # groupshared: other graders may replace it
    assert page.parent.stat().st_mode & 0o2770 == 0o2770


def test_a_submission_nbgrader_did_not_collect_is_refused(tmp_path, no_hub_config):
    course = make_course(tmp_path / "course")
    collected(course, "ann", secret=False)
    with pytest.raises(GraderError, match="has no submission_secret.txt"):
        exchange.write_feedback(course, SET, "ann", SET, "<p>ann</p>")
    with pytest.raises(GraderError, match="no nbgrader submission"):
        exchange.write_feedback(course, SET, "nobody", SET, "<p>?</p>")
    collected(course, "bea")
    with pytest.raises(GraderError, match=f"has no {SET}-Copy1.ipynb"):
        exchange.write_feedback(course, SET, "bea", f"{SET}-Copy1", "<p>bea</p>")
    assert not (course / "feedback").exists()


def test_names_that_would_leave_the_feedback_folder_are_refused(tmp_path, no_hub_config):
    course = make_course(tmp_path / "course")
    collected(course, "ann")
    for sid, nb in (("..", SET), ("ann", "../../../escape"), ("ann/../ann", SET), ("", SET)):
        with pytest.raises(GraderError, match="is not a plain file name"):
            exchange.write_feedback(course, SET, sid, nb, "<p>x</p>")
    assert not list(tmp_path.rglob("*.html"))


def test_a_page_is_replaced_whole(tmp_path, no_hub_config):
    course = make_course(tmp_path / "course")
    sub = collected(course, "ann")
    exchange.write_feedback(course, SET, "ann", SET, "<p>first</p>")
    (sub / "submission_secret.txt").write_text("secret-of-a-resubmission")
    page = exchange.write_feedback(course, SET, "ann", SET, "<p>second ü</p>")
    assert page.read_text(encoding="utf-8") == "<p>second ü</p>"
    assert (page.parent / "submission_secret.txt").read_text() == "secret-of-a-resubmission"
    assert sorted(p.name for p in page.parent.iterdir()) == \
        [f"{SET}.html", "submission_secret.txt", "timestamp.txt"]
    assert stat.S_IMODE(page.stat().st_mode) == 0o644


def test_a_notebook_is_placed_in_the_submitted_tree_however_the_path_is_given(
        tmp_path, no_hub_config, monkeypatch):
    course = exchange.read_course(make_course(tmp_path / "course"))
    sub = collected(course.root, "Ann")
    monkeypatch.chdir(course.root)
    for given in (sub / f"{SET}.ipynb", Path("submitted/Ann", SET, f"{SET}.ipynb"),
                  Path("submitted/../submitted/Ann", SET, f"{SET}.ipynb")):
        assert exchange.submitted_student_id(course, given) == "Ann"
    (course.root / "elsewhere").mkdir()
    assert exchange.submitted_student_id(course, Path("elsewhere/Ann.ipynb")) is None
    assert exchange.submitted_student_id(course, Path("submitted/Ann.ipynb")) is None
