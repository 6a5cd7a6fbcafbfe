"""Points for the student's own work, partial credit per output, and visible checks that
tell the truth, on the fixture assignment fx02_conv (a 1-D convolution layer).

The grades each submission should get are written by hand in expected_fx02.csv (see
tests/fixtures/README.md). The notebook's own test cells and ``autograder validate`` must
say what the grader will do: a shortcut, a forbidden import, a float32 output or the
padding-0 bug fails there too, with the same message.
"""

import contextlib
import html
import json
import re
import resource
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest
from grading_helpers import FIXTURES, copy_course, read_csv, run_cli
from nbclient import NotebookClient

from autograder import ownwork
from autograder.course.assignment import Part
from autograder.run.in_sandbox import ShortcutError, watched_calls

SUBMITTED = FIXTURES / "submitted_fx02"


def submission(sid):
    return SUBMITTED / sid / "fx02_conv" / "fx02_conv.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("fx02-grading")
    done = run_cli("grade", "fx02", SUBMITTED, "--course-root", FIXTURES / "course",
                   "--course-dir", work / "course", "--quiet")
    assert done.returncode == 0, done.stderr
    return work / "course" / "fx02_conv"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = copy_course(FIXTURES / "course", tmp_path_factory.mktemp("fx02-release") / "c")
    done = run_cli("release", "fx02", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "exercises" / "fx02_conv"


def test_grades_match_the_hand_written_expectations(graded):
    got = read_csv(graded / "grades.csv")
    want = read_csv(FIXTURES / "expected_fx02.csv")
    assert [r["student_id"] for r in got] == [r["student_id"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert g == w, f"{w['student_id']}: got {g}, expected {w}"


@pytest.mark.parametrize("sid, part, words", [
    ("scipy_forward", "conv-forward", ["conv1d_forward uses scipy.signal.correlate",
                                       "not a library routine"]),
    ("window_view_forward", "conv-forward",
     ["numpy.lib.stride_tricks.sliding_window_view"]),
    ("fd_backward", "conv-backward", ["conv1d_backward called conv1d_forward more than 2 "
                                      "times", "finite differences"]),
    ("numgrad_backward", "conv-backward", ["uses eval_numerical_gradient_array",
                                           "finite differences"]),
    ("transposed_dw", "conv-backward", ["dx, db right (3 of 5 points)", "'dw' has shape"]),
    ("pad_bug", "conv-backward", ["dw, db right (3 of 5 points)", "'dx' has shape"]),
    ("float32_forward", "conv-forward", ["'out' has dtype float32, expected float64"]),
])
def test_feedback_says_why(graded, sid, part, words):
    page = html.unescape((graded / "feedback" / f"{sid}.html").read_text())
    for word in words:
        assert word in page, word


# -- the notebook's own test cells, in a real kernel, agree with the grader -------------

def run_in_kernel(released, sid, tmp_path):
    """{grade_id: (passed, printed text or error)} of the test cells of a submission run
    top to bottom in Jupyter, in its released folder."""
    folder = tmp_path / sid
    shutil.copytree(released, folder)
    path = folder / "fx02_conv.ipynb"
    shutil.copy(submission(sid), path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    results = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            errors = [o for o in cell.outputs if o.output_type == "error"]
            text = (f"{errors[0].ename}: {errors[0].evalue}" if errors else
                    "".join(o.get("text", "") for o in cell.outputs))
            results[meta["grade_id"]] = (not errors, text)
    return results


@pytest.mark.parametrize("sid", ["perfect", "scipy_forward", "fd_backward",
                                 "float32_forward", "forbidden_import"])
def test_notebook_checks_agree_with_the_grader(graded, released, tmp_path, sid):
    """Where the grader gives a part all or nothing, the test cell passes exactly when
    the grader gives the points, and says the same thing when it does not."""
    cells = run_in_kernel(released, sid, tmp_path)
    row = next(r for r in read_csv(graded / "grades.csv") if r["student_id"] == sid)
    feedback = html.unescape((graded / "feedback" / f"{sid}.html").read_text())
    for part, max_points in (("conv-forward", 3), ("conv-backward", 5)):
        passed, text = cells[part]
        assert passed == (float(row[part]) == max_points), (part, text, row)
        if passed:
            assert "the hidden cases decide" in text
        else:
            assert text.startswith(f"AssertionError: {part}: "), text
            said = text.split(f"{part}: ", 1)[1].removesuffix(" (0 points)")
            assert without_case(said) in without_case(feedback), (said, part)


def without_case(message):
    """A message without the case it names (visible in the notebook, hidden in the
    grade): "on hidden case 2 of 3: 'out' has ..." -> "'out' has ..."."""
    return re.sub(r"on (the visible|visible|hidden) case( \d+ of \d+)?: ", "",
                  message)


def test_forbidden_import_fails_in_the_notebook_too(released, tmp_path):
    """The review's case: a wrapper around the course library passed the notebook's
    check ("passed (7 points)") and scored 0. Now the check fails, naming the module."""
    cells = run_in_kernel(released, "forbidden_import", tmp_path)
    passed, text = cells["conv-forward"]
    assert not passed
    assert "conv_forward_naive from a module this problem set does not allow" in text


def test_padding_bug_fails_on_a_visible_case(released, tmp_path):
    """dxp[:, :, pad:-pad] is empty for pad 0: a visible case has pad 0, so the notebook
    check and validate fail, not only a hidden case."""
    passed, text = run_in_kernel(released, "pad_bug", tmp_path)["conv-backward"]
    assert not passed and "visible case" in text and "'dx' has shape" in text
    assert "dw, db right (3 of 5 points)" in text


# -- autograder validate ----------------------------------------------------------------

def validate_in(released, sid, tmp_path):
    folder = tmp_path / f"v-{sid}"
    shutil.copytree(released, folder)
    shutil.copy(submission(sid), folder / f"{sid}.ipynb")
    return folder / f"{sid}.ipynb"


@pytest.mark.parametrize("sid, part, points, words", [
    ("pad_bug", "conv-backward", 3, ["visible case 2 of 4", "'dx' has shape (2, 3, 0)"]),
    ("float32_forward", "conv-forward", 0, ["dtype float32"]),
    ("fd_backward", "conv-backward", 0, ["called conv1d_forward more than 2 times"]),
    ("scipy_forward", "conv-forward", 0, ["scipy.signal.correlate"]),
])
def test_validate_fails_where_the_grader_would(released, tmp_path, sid, part, points, words):
    from autograder.validate import validate

    path = validate_in(released, sid, tmp_path)
    result, _ = validate(path)
    row = next(p for p in result.parts if p.grade_id == part)
    assert row.points == points, row
    for word in words:
        assert word in row.message, row.message
    done = run_cli("validate", path)
    assert done.returncode == 1
    assert "hidden cases decide" in done.stdout


def test_validate_is_cheap(released, tmp_path):
    """validate costs the notebook's own run time plus little: it does not import
    nbgrader (about 4 s) nor build a font cache; here well under 2 s of CPU time."""
    path = validate_in(released, "perfect", tmp_path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run_cli("validate", path)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 0 and "8 of 8" in done.stdout, done.stdout
    assert cpu < 2.0, cpu
    probe = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            sys.argv = ["autograder", "validate", {str(path)!r}]
            from autograder.cli import main
            main()
            print(sorted(m for m in sys.modules if m.split(".")[0] in
                         ("nbgrader", "nbformat", "sqlalchemy")))
        """)], capture_output=True, text=True, cwd=path.parent)
    assert probe.stdout.strip().splitlines()[-1] == "[]", probe.stdout[-500:]


def test_release_publishes_the_rules_and_every_configuration(released):
    doc = json.loads((released / "visible.json").read_text())
    backward = doc["parts"]["conv-backward"]
    assert backward["weights"] == [["dx", 2.0], ["dw", 2.0], ["db", 1.0]]
    assert backward["own_work"]["calls"] == {"conv1d_forward": 2}
    pads = sorted(int(c["inputs"]["pad"]["data"][0]) for c in backward["cases"])
    strides = sorted(int(c["inputs"]["stride"]["data"][0]) for c in backward["cases"])
    assert pads == [0, 1, 1, 2] and strides == [1, 1, 2, 2]


# -- the rules themselves ---------------------------------------------------------------

FORBID = ownwork.merge(ownwork.FRAMEWORKS, ownwork.CONVOLUTION,
                       ownwork.FINITE_DIFFERENCES)


def shortcut(*cells, function="f"):
    found = ownwork.Program([textwrap.dedent(c) for c in cells]).first_shortcut(
        function, FORBID)
    return found and found[1]


@pytest.mark.parametrize("cells, used", [
    (["import numpy as np\ndef f(x, k):\n    return np.convolve(x, k)"], "numpy.convolve"),
    (["from scipy import signal as s", "def f(x, k):\n    return s.correlate2d(x, k)"],
     "scipy.signal.correlate2d"),
    (["import numpy\nconv = numpy.correlate", "def f(x, k):\n    return conv(x, k)"],
     "numpy.correlate"),
    (["import numpy as np\ndef f(x):\n    return getattr(np.lib, 'stride_tricks')"],
     "numpy.lib.stride_tricks"),
    (["def f(x):\n    import torch\n    return torch.tensor(x)"], "torch.tensor"),
    (["def f(x):\n    return __import__('scipy.ndimage').ndimage"], "scipy.ndimage.ndimage"),
    (["from numpy import *\ndef f(x, k):\n    return convolve(x, k)"], "numpy.convolve"),
    # reached through the notebook's own helpers, a lambda and a partial
    (["import numpy as np\ndef _helper(x):\n    return np.fft.fft(x)",
      "def f(x):\n    return _helper(x)"], "numpy.fft.fft"),
    (["from dlcourse.gradcheck import eval_numerical_gradient as g",
      "import functools\nnum = functools.partial(g, h=1e-5)",
      "def f(x):\n    return num(lambda v: v, x)"],
     "dlcourse.gradcheck.eval_numerical_gradient"),
    (["def eval_numerical_gradient(f, x):\n    return x",
      "def f(x):\n    return eval_numerical_gradient(abs, x)"], "eval_numerical_gradient"),
])
def test_shortcuts_are_found_however_they_are_named(cells, used):
    assert shortcut(*cells) == used


@pytest.mark.parametrize("cells", [
    ["import numpy as np\ndef f(x, w):\n    return np.tensordot(x, w, axes=1)"],
    # a local variable named like a module is not the module
    ["from scipy import signal", "def f(signal):\n    return signal.sum()"],
    # a forbidden name used only outside the graded function (the numerical check cell)
    ["from dlcourse.gradcheck import eval_numerical_gradient",
     "def f(x):\n    return 2 * x", "print(eval_numerical_gradient(f, 1.0))"],
    # the last definition counts, as in the kernel
    ["import numpy as np\ndef f(x, k):\n    return np.convolve(x, k)",
     "def f(x, k):\n    return x * k"],
])
def test_honest_code_is_not_flagged(cells):
    assert shortcut(*cells) is None


def test_calls_are_counted_on_the_function_itself():
    """An alias or a partial made before the count starts still counts, a caught
    ShortcutError still fails the part, and everything is restored afterwards."""
    ns = {}
    exec(textwrap.dedent("""
        import functools
        def forward(x, h=2.0):
            return x * h
        alias = forward
        part = functools.partial(forward, h=3.0)
        def honest(x):
            return forward(x) + part(x)
        def numerical(x):
            total = 0.0
            for _ in range(10):
                try:
                    total += alias(x) + part(x)
                except Exception:
                    pass
            return total
    """), ns)
    found = {}
    for name in ("honest", "numerical"):
        with watched_calls(ns, [name], {"forward": 2}) as state:
            ns["forward"](1.0)  # outside the graded call: not counted
            with contextlib.suppress(ShortcutError):
                ns[name](1.0)
        found[name] = state["over"]
    assert found["honest"] is None
    assert found["numerical"].startswith("numerical called forward more than 2 times")
    assert ns["forward"](1.0) == 2.0 and ns["part"](1.0) == 3.0
    assert ns["forward"].__code__.co_filename == "<string>"


def test_weights_must_add_up_to_the_part(tmp_path):
    from autograder.course.assignment import _weights
    from autograder.errors import GraderError

    assert _weights("fx", "p", {"dx": 2, "dw": 3}, 5.0) == {"dx": 2.0, "dw": 3.0}
    with pytest.raises(GraderError, match="add up to 4, but its test cell gives 5"):
        _weights("fx", "p", {"dx": 2, "dw": 2}, 5.0)
    assert Part("p", 5, "probe", (), None).watch() is None


def test_committed_visible_cases_take_the_hidden_paths():
    """The review's misses: ps02's visible backward case had pad 1 only (the
    `pad:-pad` bug passed), ps06's had a 3-D mask only (no `mask=None` path, no 2-D
    mask). The released visible cases now include them."""
    ps02 = json.loads((FIXTURES.parents[1] / "exercises/ps02_convolution/visible.json")
                      .read_text())
    backward = ps02["parts"]["conv-backward"]["cases"]
    configurations = {(int(c["inputs"]["stride"]["data"][0]), int(c["inputs"]["pad"]["data"][0]))
                      for c in backward}
    assert {(1, 0), (2, 1), (3, 2), (1, 2)} <= configurations
    ps06 = json.loads((FIXTURES.parents[1] / "exercises/ps06_attention/visible.json")
                      .read_text())
    for part in ("attention-forward", "attention-backward", "multi-head-forward",
                 "transformer-block"):
        kinds = {(bool(c["inputs"]["use_mask"]["data"][0]),
                  len(c["inputs"]["mask"]["shape"])) for c in ps06["parts"][part]["cases"]}
        assert (False, 3) in kinds or (False, 2) in kinds, part  # no mask
        assert (True, 2) in kinds and (True, 3) in kinds, (part, kinds)


def test_feedback_marks_a_partly_right_part(graded):
    page = (graded / "feedback" / "transposed_dw.html").read_text()
    assert "class='pending'>partly</td><td class='pts'>3 / 5" in page


@pytest.mark.parametrize("cells, words", [
    (["from dlcourse.layers.conv import conv_forward_naive"],
     "conv_forward_naive is imported from the course library"),
    (["import numpy as np\nfrom scipy import signal",
      "def conv_forward_naive(x, w, b, stride=1, pad=0):\n    return signal.x(x), None"],
     "conv_forward_naive uses scipy.signal.x"),
])
def test_the_notebook_check_applies_the_source_rules(cells, words):
    """In Jupyter the check reads the cells the kernel ran (IPython's In)."""
    from autograder.visible import source_problem

    doc = {"forbidden_modules": ["dlcourse.layers.conv"]}
    part = {"functions": ["conv_forward_naive"],
            "own_work": {"functions": ["conv_forward_naive"], "forbid": ownwork.FRAMEWORKS}}
    assert words in source_problem(doc, part, {"In": ["", *cells]})
    assert source_problem(doc, part, {}) is None  # outside IPython: validate's job
