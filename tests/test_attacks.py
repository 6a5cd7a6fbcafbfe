"""Hostile submissions (tests/fixtures/hostile/, one attack mechanism each) graded in one
parallel batch beside honest ones, through the command line.

What each must score is written by hand in expected_hostile.csv. The other tests check
what an attack would change if it worked: files outside the sandbox, the gradebook,
processes left behind, the network, the instructor's terminal and browser. Two attacks
are also run with no sandbox, to show they do work when nothing stops them.
"""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from grading_helpers import FIXTURES, read_csv, run_cli
from nbgrader.api import Gradebook

from autograder.batch import grade_batch
from autograder.run.sandbox import sandbox_mode

PORT = 47654  # the network attack tries to reach a server on this port


def digest_tree(*folders):
    """{path: sha256} of every file below the folders."""
    out = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class Listener:
    """A TCP server on the host that records every connection."""

    def __init__(self):
        self.connections = []
        self.sock = socket.create_server(("127.0.0.1", PORT), reuse_port=True)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except OSError:
                continue
            self.connections.append(addr)
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The course and the class laid out as an instructor would have them, graded once."""
    # Never without a sandbox: unconfined, these notebooks do what they are written to do
    # to the whole machine (gradebook_tamper zeroes every gradebook it can find, which is
    # exactly the damage the December 2026 instructor review found; overwrite_files
    # rewrites every file; kills_everything signals every process).
    if sandbox_mode() == "none":
        pytest.fail("no usable sandbox (bubblewrap): the hostile submissions are not run "
                    "unconfined; install Debian's bubblewrap (make test does)")
    work = tmp_path_factory.mktemp("hostile")
    course_root = work / "course-repo"
    shutil.copytree(FIXTURES / "course", course_root)
    submitted = work / "submitted"
    shutil.copytree(FIXTURES / "hostile", submitted)
    # A finished earlier batch of other students, in the same gradebook and course dir.
    course_dir = work / "course"
    earlier = run_cli("grade", "fx01", FIXTURES / "submitted", "--course-root", course_root,
                      "--course-dir", course_dir, "--quiet")
    assert earlier.returncode == 0, earlier.stderr
    import numpy

    watched = [course_root, submitted, FIXTURES / "submitted"]
    before = digest_tree(*watched)
    numpy_init = hashlib.sha256(Path(numpy.__file__).read_bytes()).hexdigest()
    listener = Listener()
    try:
        done = run_cli("grade", "fx01", submitted, "--course-root", course_root,
                       "--course-dir", course_dir, "--workers", "2", "--quiet")
    finally:
        listener.close()
    assert done.returncode == 0, done.stderr
    return {"course_dir": course_dir, "done": done, "before": before, "watched": watched,
            "after": digest_tree(*watched), "listener": listener, "numpy_init": numpy_init,
            "course_root": course_root, "submitted": submitted}


def test_every_attack_gets_what_was_written_by_hand(hostile):
    got = {r["student_id"]: r for r in read_csv(hostile["course_dir"] / "fx01_tiny" /
                                                "grades.csv")}
    for want in read_csv(FIXTURES / "expected_hostile.csv"):
        assert got[want["student_id"]] == want, want["student_id"]


def test_honest_neighbours_and_earlier_grades_are_untouched(hostile):
    rows = {r["student_id"]: r for r in read_csv(hostile["course_dir"] / "fx01_tiny" /
                                                 "grades.csv")}
    assert rows["neighbour"]["auto_total"] == "6" and rows["honest_extras"]["auto_total"] == "6"
    url = f"sqlite:///{hostile['course_dir'] / 'gradebook.db'}"
    with Gradebook(url) as gb:
        def score(student):
            return sum(gb.find_grade(g, "fx01_tiny", "fx01_tiny", student).auto_score
                       for g in ("relu-forward", "relu-backward", "mean-answer"))
        # graded in the earlier batch, before the attacks ran
        assert score("perfect") == 6 and score("wrong_gradient") == 3
        assert score("neighbour") == 6 and score("gradebook_tamper") == 0
        assert score("steal_solution") == 0


def test_no_file_outside_the_sandbox_changed(hostile):
    import numpy

    assert hostile["after"] == hostile["before"]
    assert hashlib.sha256(Path(numpy.__file__).read_bytes()).hexdigest() == \
        hostile["numpy_init"]
    # the earlier batch's results survive the deletion attempt
    assert (hostile["course_dir"] / "fx01_tiny" / "results" / "perfect.json").is_file()


def test_no_process_outlives_the_batch(hostile):
    ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout
    assert "sleep 98765" not in ps  # the lingering process's daemons
    # (other tests' sandboxes may run at the same time; these are the attack's own)


def test_the_network_is_unreachable(hostile):
    assert hostile["listener"].connections == []


def test_resource_attacks_are_stopped_with_a_clear_status(hostile):
    lines = hostile["done"].stdout.splitlines()

    def line(sid):
        found = [x for x in lines if x.startswith(f"{sid}:")]
        assert len(found) == 1, (sid, found)
        return found[0]

    assert "more than 2 GB of memory" in line("memory_bomb")
    assert "wall-clock limit" in line("sleeper")
    assert "CPU time" in line("ignores_interrupts")
    assert "more than 64 MB" in line("output_bomb")
    assert "File too large" in line("output_flood")


def test_messages_cannot_inject_markup_or_terminal_codes(hostile):
    done = hostile["done"]
    assert "\x1b" not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    page = (hostile["course_dir"] / "fx01_tiny" / "feedback" /
            "markup_injection.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page and "FAKE" in page


def test_the_attacks_work_when_nothing_stops_them(tmp_path):
    """The same two reading attacks, run without the sandbox, get full marks: so the
    sandbox, not a flaw in the attack, is what stops them in the batch above."""
    course_root = tmp_path / "course-repo"
    shutil.copytree(FIXTURES / "course", course_root)
    submitted = tmp_path / "submitted"
    for sid in ("steal_solution", "copy_neighbour", "neighbour"):
        shutil.copytree(FIXTURES / "hostile" / sid, submitted / sid)
    outcome = grade_batch("fx01", submitted, tmp_path / "course", course_root / "solutions",
                          sandboxed=False, echo=lambda *a: None, progress=False)
    totals = {r.student_id: r.auto_total for r in outcome.results}
    assert totals == {"copy_neighbour": 6, "neighbour": 6, "steal_solution": 6}


def test_the_expected_grades_are_documented():
    """Every hostile fixture is listed in the fixtures README with what it does."""
    readme = (FIXTURES / "README.md").read_text()
    for sid in os.listdir(FIXTURES / "hostile"):
        assert re.search(rf"^\| {sid} \|", readme, re.M), sid
