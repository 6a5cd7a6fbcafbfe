"""What a student reads when a part fails: where a value is wrong and what was expected
there, a function that returned None (printed instead of returned) or an array instead of
its tuple, and cells read as IPython reads them."""

import shutil

import numpy as np
import pytest
from grading_helpers import FIXTURES

from autograder import visible
from autograder.course import assignment
from autograder.course.compare import compare_outputs
from autograder.course.notebooks import CodeCell, check_source_rules
from autograder.run.grading import VISIBLE_SEED, case_inputs, grade_notebook, run_reference

MESSAGES = FIXTURES / "messages"


def test_a_wrong_value_is_located_with_what_was_expected_and_got_there():
    want = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    have = want.copy()
    have[1, 2] = -6.0
    ok, message = compare_outputs({"dx": have}, {"dx": want})
    assert not ok
    assert message == ("'dx' has wrong values (largest relative error 2 at dx[1, 2]: "
                       "expected 6, got -6)")
    have[0, 1] = np.nan
    assert compare_outputs({"dx": have}, {"dx": want})[1] == (
        "'dx' contains NaN or infinity, first at dx[0, 1] (expected 2, got nan)")


def test_a_secret_answer_is_not_revealed():
    ok, message = compare_outputs({"value": np.float64(37.5)}, {"value": np.float64(38.5)},
                                  reveal=False)
    assert not ok and "38.5" not in message and "got 37.5" in message


@pytest.fixture(scope="module")
def graded_mistakes():
    """prints_result and returns_array graded as the grader does, on secret cases."""
    a = assignment.load("fx01", FIXTURES / "course" / "solutions")
    inputs = case_inputs(a, 20261201)
    reference = run_reference(a, inputs)
    return {sid: {p.grade_id: p.message for p in grade_notebook(
                sid, MESSAGES / sid / "fx01_tiny/fx01_tiny.ipynb", a, reference, inputs).parts}
            for sid in ("prints_result", "returns_array")}


def test_print_instead_of_return_says_the_function_returned_none(graded_mistakes):
    for part in ("relu-forward", "relu-backward"):  # the backward's probe uses the forward
        message = graded_mistakes["prints_result"][part]
        assert message.startswith("relu_forward returned None: it must `return` its result"), \
            message


def test_an_array_instead_of_a_tuple_says_so(graded_mistakes):
    message = graded_mistakes["returns_array"]["relu-forward"]
    assert message.startswith("relu_forward returned an array where a tuple of 2 values "
                              "(return out, cache) is expected"), message


@pytest.fixture(scope="module")
def visible_folder(tmp_path_factory):
    """fx01's public folder: visible.json (as release writes it) and probes.py."""
    a = assignment.load("fx01", FIXTURES / "course" / "solutions")
    inputs = case_inputs(a, VISIBLE_SEED, visible=True)
    reference = run_reference(a, inputs)
    folder = tmp_path_factory.mktemp("visible")
    visible.write(folder / visible.FILENAME,
                  visible.build(a, inputs, reference.outputs, reference.returned))
    shutil.copy(a.probes_file, folder / "probes.py")
    return folder


def test_the_notebooks_own_check_says_what_was_returned(visible_folder, capsys):
    def printing(x):
        print(np.maximum(0, x), x)

    with pytest.raises(AssertionError, match=r"relu_forward returned None"):
        visible.check("relu-forward", {"relu_forward": printing}, visible_folder)
    # The visible case has 2 rows, so an array "unpacks" into them without an error:
    # only what the reference returned (in visible.json) can tell what went wrong.
    with pytest.raises(AssertionError, match=r"returned an array where a tuple of 2 values"):
        visible.check("relu-forward", {"relu_forward": lambda x: np.maximum(0, x)},
                      visible_folder)
    visible.check("relu-forward", {"relu_forward": lambda x: (np.maximum(0, x), x)},
                  visible_folder)
    assert "relu-forward: passed" in capsys.readouterr().out


def test_source_rules_read_cells_as_ipython_runs_them():
    """A `def` under %%time is a definition; `x = !cmd` and `obj?` are not errors; a
    graded function replaced later is named by its Jupyter cell number."""
    cells = [CodeCell("%%time\ndef relu_forward(x):\n    return x, x", 2),
             CodeCell("files = !ls\nrelu_forward?", 3),
             CodeCell("%%bash\necho def relu_backward", 4),
             CodeCell("def mean(x):\n    return x\n", 6, "Part 2"),
             CodeCell("mean = 3", 9, "Part 2")]
    problems = check_source_rules(cells, ["relu_forward", "relu_backward", "mean"], ())
    assert "relu_forward" not in problems
    assert problems["relu_backward"] == "relu_backward is not defined with `def` in your notebook"
    assert problems["mean"] == ('mean is replaced by an assignment in cell [9] (under '
                                '"Part 2") after its `def`; the grader needs your own '
                                'definition')


def test_an_error_deep_in_a_helper_names_the_notebook_function():
    """NumPy's shape errors name no function: the message says which notebook function
    raised it (a given helper such as ps06's affine_forward fed a 3-D input)."""
    from autograder.run.in_sandbox import short_error

    namespace = {}
    exec(compile("import numpy as np\n"
                 "def affine_forward(x, w, b):\n    return x @ w + b\n"
                 "def attention(x, w):\n    return affine_forward(x, w, 0.0)\n",
                 "<cell 7>", "exec"), namespace)
    try:
        namespace["attention"](np.ones((2, 3)), np.ones((2, 3)))
    except ValueError as exc:
        message = short_error(exc)
    assert message.startswith("ValueError: matmul") and message.endswith(
        "(in affine_forward)"), message
    try:
        exec(compile("1 / 0", "<cell 8>", "exec"), {})
    except ZeroDivisionError as exc:  # raised at a cell's top level: no function named
        assert short_error(exc) == "ZeroDivisionError: division by zero"
