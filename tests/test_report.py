"""The class report: plots, who needs attention, near-identical answers, escaping."""

import json
import shutil

from grading_helpers import FIXTURES, run_cli

PERFECT = FIXTURES / "submitted/perfect/fx01_tiny/fx01_tiny.ipynb"
OWN = {  # code of copy_a's own, unlike the reference answer (np.maximum, dout * (x > 0))
    "relu-forward-code": "def relu_forward(x):\n    keep = x.copy()\n"
                         "    keep[keep < 0] = 0.0\n    return keep, x.copy()",
    "relu-backward-code": "def relu_backward(dout, cache):\n    grad = dout.copy()\n"
                          "    grad[cache <= 0] = 0.0\n    return grad",
    "mean-answer-code": "total = 0\nfor k in range(1, 11):\n    total += k ** 2\n"
                        "mean_of_squares = total / 10",
}
ANSWERS = {  # grade_id of the answer cell -> new source, per student
    "copy_a": OWN,
    "x<script>alert(1)": OWN,  # a third copy, under an id with markup
    "copy_b": {  # copy_a's code with other names and comments: still a copy
        "relu-forward-code": "def relu_forward(x):\n    # my own work\n    y = x.copy()\n"
                             "    y[y < 0] = 0.0\n    return y, x.copy()",
        "relu-backward-code": "def relu_backward(dout, cache):\n    g = dout.copy()  # saved\n"
                              "    g[cache <= 0] = 0.0\n    return g",
        "mean-answer-code": OWN["mean-answer-code"].replace("total", "acc"),
    },
    # the reference answer's code with other names: matches the reference, not a copy
    "like_reference": {
        "relu-forward-code": "def relu_forward(x):\n    # my own work\n"
                             "    return np.maximum(0, x), x",
        "relu-backward-code": "def relu_backward(dout, cache):\n    inp = cache  # saved\n"
                              "    return dout * (inp > 0)",
    },
    "distinct_1": {
        "relu-forward-code": "def relu_forward(x):\n    out = np.where(x > 0, x, 0.0)\n"
                             "    return out, x",
        "relu-backward-code": "def relu_backward(dout, cache):\n    mask = cache > 0\n"
                              "    dx = np.zeros_like(dout)\n    dx[mask] = dout[mask]\n"
                              "    return dx",
        "mean-answer-code": "squares = [k * k for k in range(1, 11)]\n"
                            "mean_of_squares = sum(squares) / len(squares)",
    },
    "distinct_2": {
        "relu-forward-code": "def relu_forward(x):\n    return x * (x > 0), x.copy()",
        "relu-backward-code": "def relu_backward(dout, cache):\n"
                              "    return np.where(cache > 0, dout, 0.0)",
        "mean-answer-code": "mean_of_squares = 385 / 10",
    },
}


def make_class(folder):
    nb = json.loads(PERFECT.read_text())
    for sid in ("reference_copy",):  # the solution's code, as given
        (folder / sid / "fx01_tiny").mkdir(parents=True)
        shutil.copy(PERFECT, folder / sid / "fx01_tiny/fx01_tiny.ipynb")
    for sid, answers in ANSWERS.items():
        mine = json.loads(json.dumps(nb))
        for cell in mine["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell["source"] = answers[gid]
        (folder / sid / "fx01_tiny").mkdir(parents=True)
        (folder / sid / "fx01_tiny/fx01_tiny.ipynb").write_text(json.dumps(mine))
    shutil.copytree(FIXTURES / "submitted/blank", folder / "blank")


def test_report_flags_copies_not_independent_work_and_escapes(tmp_path):
    submitted = tmp_path / "submitted"
    make_class(submitted)
    done = run_cli("grade", "fx01", submitted, "--course-root", FIXTURES / "course",
                   "--course-dir", tmp_path / "course", "--quiet")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "course/fx01_tiny/report.html").read_text()
    pairs = page.split("Near-identical answers")[1]
    assert "<td>copy_a</td><td>copy_b</td>" in pairs
    assert "distinct_1" not in pairs and "distinct_2" not in pairs
    # three students whose code is the reference answer's (one renamed): no pair
    assert "reference_copy" not in pairs and "like_reference" not in pairs
    assert "(3 pairs)" in page
    assert "blank" not in pairs  # the untouched stub has no answer to compare
    attention = page.split("Needs attention")[1].split("Near-identical")[0]
    assert "<td>blank</td><td>errors</td>" in attention and "distinct_1" not in attention
    assert page.count("<img alt='plot' src='data:image/png;base64,") == 3
    assert "<script>" not in page and "x&lt;script&gt;alert(1)" in page


def test_report_statistics_leave_missing_students_out(tmp_path):
    """Two of four on the roster submitted: perfect (6 automatic points, derivation
    pending: 6 so far) and blank (0); the mean is 3 over those two, not 1.5 over four."""
    submitted = tmp_path / "submitted"
    for sid in ("perfect", "blank"):
        shutil.copytree(FIXTURES / "submitted" / sid, submitted / sid)
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id\nperfect\nblank\nabsent_1\nabsent_2\n")
    done = run_cli("grade", "fx01", submitted, "--roster", roster, "--course-root",
                   FIXTURES / "course", "--course-dir", tmp_path / "course", "--quiet")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "course/fx01_tiny/report.html").read_text()
    summary = " ".join(page.split("<p>", 1)[1].split("</p>", 1)[0].split())
    assert "mean total 3.00 of 8 over the 2 who submitted" in summary
    assert "2 missing left out of every statistic" in summary
    assert "1 with hand-graded parts pending count their points so far" in summary
    attention = page.split("Needs attention")[1].split("Near-identical")[0]
    assert "<td>absent_1</td><td>missing</td>" in attention
