"""The Gradescope export: fx01's autograder zip, unpacked as Gradescope unpacks it
(``autograder/source`` = the zip, ``autograder/submission`` = a student's files), grades
as ``autograder grade`` does and always writes a valid results.json."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import FIXTURES, copy_course, read_csv

from autograder.lms import gradescope

CHECKS = FIXTURES / "course" / "solutions"
SOURCE_NB = CHECKS / "fx01_tiny" / "fx01_tiny.ipynb"
SUBMITTED = FIXTURES / "submitted"
# fx01's test cells, by hand: relu-forward 2, relu-backward 3, mean-answer 1 point(s)
MAX = {"relu-forward": 2.0, "relu-backward": 3.0, "mean-answer": 1.0}
# Gradescope's results.json, from its "Autograder Specifications" page
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format",
            "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
            "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(zip path, the export's printed lines, the course folder) of fx01."""
    tmp = tmp_path_factory.mktemp("export")
    course = copy_course(FIXTURES / "course", tmp / "course")
    lines = []
    out = gradescope.export_autograder("fx01", CHECKS, course, tmp / "autograder.zip",
                                       echo=lines.append)
    return out, lines, course


def unpack(zip_path, tmp, files):
    """Gradescope's layout under ``tmp/autograder``, with ``files`` ({name: bytes}) as
    the submission. Returns the root."""
    root = tmp / "autograder"
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            z.extract(info, root / "source")
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    return root


def student(sid):
    return {"fx01_tiny.ipynb": (SUBMITTED / sid / "fx01_tiny" / "fx01_tiny.ipynb").read_bytes()}


def grade(exported, tmp, files):
    root = unpack(exported[0], tmp, files)
    gradescope.run_autograder(root)
    return json.loads((root / "results" / "results.json").read_text())


def check_format(results):
    """results.json as Gradescope documents it; the score is the sum of the tests'."""
    assert set(results) <= TOP_KEYS
    assert results["visibility"] in VISIBILITIES
    assert results["stdout_visibility"] in VISIBILITIES
    assert isinstance(results["output"], str) and results["output"]
    assert results["tests"]
    for test in results["tests"]:
        assert set(test) <= TEST_KEYS
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITIES
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))
    json.dumps(results, allow_nan=False)  # plain JSON: no NaN, nothing exotic


def part_scores(results):
    """{grade_id: (score, max_score)} of the automatic parts (named "grade_id: title")."""
    return {t["name"].split(":")[0]: (t["score"], t["max_score"]) for t in results["tests"]
            if t["name"].split(":")[0] in MAX}


def expected(sid):
    row = next(r for r in read_csv(FIXTURES / "expected_grades.csv") if r["student_id"] == sid)
    return {gid: (float(row[gid]), MAX[gid]) for gid in MAX}


def solution_lines():
    """Every line inside the source notebook's solution regions (long enough not to be
    a line of any program)."""
    lines, inside = set(), False
    for cell in json.loads(SOURCE_NB.read_text())["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if line.strip() == "### BEGIN SOLUTION":
                inside = True
            elif line.strip() == "### END SOLUTION":
                inside = False
            elif inside and len(line.strip()) >= 12:
                lines.add(line.strip())
    return lines


def test_the_zip_holds_no_solution_code_and_the_course_seed(exported):
    out, lines, course = exported
    secret = solution_lines()
    assert len(secret) == 4  # forward, backward (2 lines), the answer and the derivation
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        data = {n: z.read(n) for n in names}
    assert [n for n in names if n.endswith(".ipynb")] == ["sets/fx01_tiny/fx01_tiny.ipynb"]
    for name, content in data.items():
        text = content.decode("utf-8", "replace")
        assert not [line for line in secret if line in text], name
        if not name.startswith("project/autograder/"):  # the grader's code names the marker
            assert "BEGIN SOLUTION" not in text, name
    shipped = json.loads(data["sets/fx01_tiny/fx01_tiny.ipynb"])
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
               for c in shipped["cells"]]
    assert "def relu_forward(x):\n" in sources[3] and "raise NotImplementedError()" in sources[3]
    assert sources[-1] == "Derive the gradient of ReLU.\n\nYOUR ANSWER HERE"
    # what grading needs, and the seed `autograder grade` uses for this course
    for name in ("sets/fx01_tiny/checks.py", "sets/fx01_tiny/probes.py", "gradescope.json",
                 "reference/outputs.npz", "reference/reference.json",
                 "project/requirements.txt", "project/autograder/run/grading.py"):
        assert name in names
    seed = (course / "course" / "fx01_tiny" / "secret-seed").read_bytes()
    assert data["secret-seed"] == seed
    assert not any(n.startswith("project/dlcourse/") for n in names)  # fx01 uses none of it
    assert any("secret seed" in line for line in lines)


def test_setup_and_run_autograder_are_executable_bash(exported):
    with zipfile.ZipFile(exported[0]) as z:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
        setup = z.read("setup.sh").decode()
        run = z.read("run_autograder").decode()
    for name, text in (("setup.sh", setup), ("run_autograder", run)):
        assert modes[name] & 0o111 == 0o111, name
        assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert "apt-get install -y" in setup and "bubblewrap" in setup
    assert "pip install -r \"$SOURCE/project/requirements.txt\"" in setup
    assert "pip install --no-deps -e \"$SOURCE/project\"" in setup
    assert "AUTOGRADER_ROOT" in run


@pytest.mark.parametrize("sid", ["perfect", "constant_forward"])
def test_a_submission_scores_what_autograder_grade_gives_it(exported, tmp_path, sid):
    results = grade(exported, tmp_path, student(sid))
    check_format(results)
    assert part_scores(results) == expected(sid)
    assert results["extra_data"]["confinement"] == "bubblewrap"
    assert "Bubblewrap sandbox" in results["output"]
    hand = [t for t in results["tests"] if t["name"].startswith("relu-derivation")]
    assert len(hand) == 1
    assert (hand[0]["score"], hand[0]["max_score"]) == (0, 0)
    assert "graded by hand" in hand[0]["name"] and "1 where x > 0, else 0." in hand[0]["output"]
    if sid == "constant_forward":
        forward = next(t for t in results["tests"] if t["name"].startswith("relu-forward:"))
        assert forward["status"] == "failed" and "relu_forward" in forward["name"]


def test_the_zip_grades_with_its_own_code_through_run_autograder(exported, tmp_path):
    """The script as Gradescope runs it, with the root and the Python pointed here: the
    grader it imports is the zip's (PYTHONPATH), not this checkout's."""
    root = unpack(exported[0], tmp_path, student("wrong_gradient"))
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    check_format(results)
    assert part_scores(results) == expected("wrong_gradient")
    assert "fx01_tiny: 3 points" in done.stdout


def test_a_corrupt_notebook_scores_zero_and_says_why(exported, tmp_path):
    results = grade(exported, tmp_path, student("corrupt_json"))
    check_format(results)
    assert part_scores(results) == {gid: (0.0, m) for gid, m in MAX.items()}
    assert "not valid notebook JSON" in results["output"]
    assert "None of your code was run." in results["output"]
    assert results["extra_data"]["status"] == "corrupt"
    hand = next(t for t in results["tests"] if t["name"].startswith("relu-derivation"))
    assert "No answer: no readable notebook" in hand["output"]


@pytest.mark.parametrize("files, says", [
    ({"answers.py": b"print(1)\n", "notes/readme.txt": b"hi"},
     "no notebook (.ipynb) in your submission (files: answers.py, notes/readme.txt): "
     "submit fx01_tiny.ipynb"),
    ({"fx03_square.ipynb": (FIXTURES / "submitted_fx03/perfect/fx03_square/"
                            "fx03_square.ipynb").read_bytes()},
     "no notebook of this assignment found (files: fx03_square.ipynb)"),
], ids=["no-notebook", "another-sets-notebook"])
def test_no_notebook_of_the_set_scores_zero_and_says_so(exported, tmp_path, files, says):
    results = grade(exported, tmp_path, files)
    check_format(results)
    assert part_scores(results) == {gid: (0.0, m) for gid, m in MAX.items()}
    assert says in results["output"]
    assert results["extra_data"]["status"] == "no-notebook"


def test_without_a_sandbox_it_grades_unconfined_and_says_so(exported, tmp_path, monkeypatch):
    """Docker usually refuses Bubblewrap's namespaces: then the code runs unsandboxed in
    the container, and the student and the instructor are told."""
    monkeypatch.setattr(gradescope, "sandbox_mode", lambda: "none")
    results = grade(exported, tmp_path, student("perfect"))
    check_format(results)
    assert part_scores(results) == expected("perfect")
    assert results["extra_data"]["confinement"] == "none"
    assert "WITHOUT the course's Bubblewrap sandbox" in results["output"]
    if gradescope.can_drop_root():  # as in Gradescope's container
        assert "as an unprivileged user" in results["output"]


SPY = """import pathlib

import numpy as np

def _readable(path):
    try:
        path.read_bytes()
        return True
    except OSError:
        return False

SOURCE = pathlib.Path({source!r})
stolen = [p for p in SOURCE.rglob("*") if p.is_file() and _readable(p)
          and p.name in ("secret-seed", "outputs.npz", "reference.json", "checks.py")]
sees_probes = _readable(SOURCE / "sets" / "fx01_tiny" / "probes.py")

def relu_forward(x):
    return (np.zeros_like(x) if stolen else np.maximum(0, x)), x
"""


@pytest.fixture
def open_folder():
    """A folder every user may enter (pytest's tmp_path lies in one only root may enter),
    as Gradescope's /autograder is."""
    base = Path(tempfile.mkdtemp(prefix="gradescope-test-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


@pytest.fixture
def world_python(open_folder, monkeypatch):
    """Point sys.executable at a Python every user may run, as setup.sh's venv is: this
    machine's may live under /root. A venv of the system's Python of the same version,
    seeing this environment's site-packages (numpy, IPython)."""
    if os.geteuid() != 0:
        pytest.skip("dropping root to another uid needs root")
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    site = Path(np.__file__).parents[1]
    if not system.is_file() or any(not os.stat(f).st_mode & 0o001 for f in site.parents):
        pytest.skip("no Python here that every user may run")
    venv = open_folder / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
    lib = next((venv / "lib").iterdir()) / "site-packages"
    (lib / "course.pth").write_text(f"{site}\n")
    monkeypatch.setattr(sys, "executable", str(venv / "bin" / "python"))
    assert gradescope.can_drop_root()


def test_unsandboxed_code_cannot_read_the_zips_secrets(exported, open_folder, world_python,
                                                       monkeypatch):
    """Run as root without Bubblewrap (Gradescope's container), the student's code runs as
    an unprivileged uid: the seed, checks.py and the reference outputs are unreadable to
    it, the public probes.py is not. The forward is right only if nothing secret was
    read, the backward only if probes.py was (so the spy works)."""
    monkeypatch.setattr(gradescope, "sandbox_mode", lambda: "none")
    base = open_folder / "run"
    base.mkdir()
    nb = json.loads(student("perfect")["fx01_tiny.ipynb"])
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "relu-forward-code":
            cell["source"] = SPY.format(source=str(base / "autograder" / "source"))
        elif gid == "relu-backward-code":
            cell["source"] = ("def relu_backward(dout, cache):\n"
                              "    return dout * (cache > 0) * sees_probes")
    results = grade(exported, base, {"fx01_tiny.ipynb": json.dumps(nb).encode()})
    check_format(results)
    assert "as an unprivileged user" in results["output"]
    assert part_scores(results) == expected("perfect")


def test_a_zip_changed_after_the_export_grades_nobody(exported, tmp_path):
    root = unpack(exported[0], tmp_path, student("perfect"))
    checks = root / "source" / "sets" / "fx01_tiny" / "checks.py"
    checks.write_text(checks.read_text().replace('"cases": 1', '"cases": 2'))
    gradescope.run_autograder(root)
    results = json.loads((root / "results" / "results.json").read_text())
    check_format(results)
    assert part_scores(results) == {gid: (0.0, m) for gid, m in MAX.items()}
    assert "sets/fx01_tiny/checks.py of the autograder zip is missing or was changed" \
        in results["output"]
    assert "not a problem with your work" in results["output"]


def test_strip_solutions_leaves_what_nbgrader_releases():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True}},
         "source": "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
         "outputs": [{"output_type": "stream", "text": "4"}], "execution_count": 3},
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True}},
         "source": "answer = 42", "outputs": [], "execution_count": 1},
        {"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True}},
         "source": "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"},
        {"cell_type": "code", "metadata": {}, "source": "check()\n### BEGIN HIDDEN TESTS\n"
         "assert f(1) == 2\n### END HIDDEN TESTS", "outputs": [], "execution_count": 2},
    ]}
    stripped = gradescope.strip_solutions(nb)
    assert [c["source"] for c in stripped["cells"]] == [
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
        "# YOUR CODE HERE\nraise NotImplementedError()",
        "Why?\nYOUR ANSWER HERE",
        "check()",
    ]
    assert stripped["cells"][0]["outputs"] == [] and stripped["cells"][0]["execution_count"] is None
    assert nb["cells"][0]["source"].count("return 2 * x") == 1  # the original is untouched
