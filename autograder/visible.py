"""The visible checks: small fixed cases students can see and run themselves.

``autograder release`` writes ``visible.json`` beside the problem set's notebook: for
each part, the probe's name, its points (and their split over the outputs), the rules of
its own work, and its visible cases: the small case 0, and one case with the
configuration of each secret case (stride, padding, mask, ...) drawn from the public
seed, each with its inputs and the reference answer's outputs, as plain JSON numbers.
The notebook's test cells call :func:`check`, and ``autograder validate`` runs the same
cases outside the kernel. Both judge with the trusted grader's functions, and both apply
the grader's source rules, so an honest notebook gets the same verdict everywhere; only
the hidden cases decide the points.
"""

import importlib.util
import json
import re
from pathlib import Path

import numpy as np

from autograder.compare import compare_outputs

FILENAME = "visible.json"


def array_to_json(a):
    a = np.asarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.ravel().tolist()}


def array_from_json(d):
    return np.array(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])


def build(assignment, inputs, outputs):
    """The visible.json document for the visible cases of every part."""
    parts = {}
    for p in assignment.parts:
        cases = []
        for case in [c for g, c in inputs if g == p.grade_id]:  # "0", "v1", "v2", ...
            key = (p.grade_id, case)
            cases.append({
                "name": case,
                "inputs": {k: array_to_json(v) for k, v in inputs[key].items()},
                # A scorer judges by itself; a private answer must not be published.
                "expected": ({k: array_to_json(v) for k, v in outputs[key].items()}
                             if p.public_answer and not p.scorer else None),
            })
        parts[p.grade_id] = {
            "probe": p.probe, "points": p.points, "functions": list(p.functions),
            "rtol": p.rtol, "atol": p.atol, "scorer": p.scorer,
            # pairs, not an object: the outputs keep their order in messages
            "weights": [[k, w] for k, w in p.weights.items()] if p.weights else None,
            "own_work": p.own_work, "cases": cases,
        }
    return {"assignment": assignment.name, "notebook": assignment.notebook.name,
            "order": [p.grade_id for p in assignment.parts],
            "forbidden_modules": list(assignment.forbidden_modules), "parts": parts}


def write(path, document):
    """Indented JSON with each array's numbers on one line (thousands of numbers one per
    line make the file unreadable and its diffs long)."""
    text = json.dumps(document, indent=1, sort_keys=True)
    text = re.sub(r'"data": \[\n([^\]]*)\n\s*\]', lambda m: '"data": [' + " ".join(
        m.group(1).split()) + "]", text)
    Path(path).write_text(text + "\n")


def load(folder="."):
    """Read visible.json from ``folder``; a clear error if the file is not there."""
    path = Path(folder) / FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: keep the notebook in its problem-set folder, beside "
            f"{FILENAME} and probes.py")
    return json.loads(path.read_text())


def _probes(folder):
    spec = importlib.util.spec_from_file_location("probes", Path(folder) / "probes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NotebookNamespace(dict):
    """A notebook's globals as probes see them (the same class as in runner.py, which
    must stay importable without this package)."""

    def __missing__(self, name):
        raise NameError(f"{name} is not defined in your notebook")


def case_labels(cases):
    """{case: "visible case 2 of 5" / "hidden case 3 of 4"} ("the visible case" if it
    is the only one)."""
    visible = [c for c in cases if c == "0" or c.startswith("v")]
    hidden = [c for c in cases if c not in visible]
    labels = {}
    for kind, group in (("visible", visible), ("hidden", hidden)):
        for n, case in enumerate(group, start=1):
            labels[case] = (f"the {kind} case" if len(group) == 1 and kind == "visible"
                            else f"{kind} case {n} of {len(group)}")
    return labels


def judge(spec, cases, probes):
    """(points, message) for one part over its cases, as the grader scores it.

    ``spec``: {"points", "weights", "rtol", "atol", "scorer"}. ``cases``: a list of
    (label, got, expected, inputs, why) with ``got`` None when the code produced nothing
    (``why`` says why) and ``expected`` None when the answer is not public (then only
    finite numbers are asked for). With ``weights``, each output earns its points when it
    is right in every case.
    """
    weights = dict(spec.get("weights") or {})  # {name: points} or [[name, points], ...]
    failed = {}  # output name -> message of its first failing case
    passed_message = "passed"
    for label, got, expected, inputs, why in cases:
        if got is None:
            return 0.0, why or "your code produced no result"
        if spec.get("scorer"):
            ok, message = getattr(probes, spec["scorer"])(got, inputs)
            passed_message = f"passed ({message})" if ok else passed_message
        elif expected is None:
            ok, message = finite_numbers(got)
            passed_message = "computed; its value is checked only by the grader"
        elif weights:
            for name in weights:
                if name not in failed:
                    ok, message = compare_outputs(got, {name: expected[name]},
                                                  spec["rtol"], spec["atol"])
                    if not ok:
                        failed[name] = f"on {label}: {message}"
            continue
        else:
            ok, message = compare_outputs(got, expected, spec["rtol"], spec["atol"])
        if not ok:
            return 0.0, f"on {label}: {message}"
    if weights and failed:
        right = [name for name in weights if name not in failed]
        points = float(sum(weights[name] for name in right))
        earned = (f"{', '.join(right)} right ({points:g} of {spec['points']:g} points); "
                  if right else "")
        return points, earned + "; ".join(failed.values())
    return float(spec["points"]), passed_message


def source_problem(doc, part, namespace):
    """The grader's source rules, applied to the cells this kernel has run (IPython's
    ``In``): a graded function imported, replaced, or using a forbidden module or a
    forbidden shortcut. One message, or None (also outside IPython, where the cells are
    not known; ``autograder validate`` applies the rules to the saved notebook)."""
    from autograder import ownwork
    from autograder.notebooks import check_source_rules

    cells = namespace.get("In")
    if not isinstance(cells, list):
        return None
    cells = [c for c in cells if isinstance(c, str) and c.strip()]
    problems = check_source_rules(cells, part["functions"], doc["forbidden_modules"])
    for name in part["functions"]:
        if name in problems:
            return problems[name]
    return ownwork.check(cells, {"part": part.get("own_work")}).get("part")


def check(grade_id, namespace, folder="."):
    """Run one part's visible cases on the functions in ``namespace`` (a notebook's
    ``globals()``). Prints a line when they pass; raises AssertionError saying what is
    wrong when they do not. Errors raised by the code itself reach the student as they
    are, with their traceback."""
    from autograder.runner import watched_calls

    doc = load(folder)
    part = doc["parts"][grade_id]
    problem = source_problem(doc, part, namespace)
    if problem:
        raise AssertionError(f"{grade_id}: {problem} (0 points)")
    probes = _probes(folder)
    watch = part.get("own_work") or {}
    labels = case_labels([c["name"] for c in part["cases"]])
    cases = []
    for case in part["cases"]:
        inputs = {k: array_from_json(v) for k, v in case["inputs"].items()}
        with watched_calls(namespace, watch.get("functions", ()) if watch.get("calls")
                           else (), watch.get("calls", {})) as calls:
            try:
                outputs = getattr(probes, part["probe"])(NotebookNamespace(namespace),
                                                         **inputs)
            except BaseException:
                if not calls["over"]:
                    raise
        if calls["over"]:
            raise AssertionError(f"{grade_id}: {calls['over']} (0 points)")
        got = {k: np.asarray(v) for k, v in outputs.items()}
        expected = (None if case["expected"] is None else
                    {k: array_from_json(v) for k, v in case["expected"].items()})
        cases.append((labels[case["name"]], got, expected, inputs, None))
    points, message = judge(part, cases, probes)
    total = part["points"]
    unit = "point" if total == 1 else "points"
    if points < total:
        raise AssertionError(f"{grade_id}: {message}")
    n = len(cases)
    which = "on the visible case" if n == 1 else f"on all {n} visible cases"
    text = f"passed {which}" if message == "passed" else f"{message} ({which})"
    print(f"{grade_id}: {text}; the hidden cases decide the {total:g} {unit}")


def finite_numbers(got):
    for name, value in got.items():
        if value.dtype.kind not in "biuf" or not np.all(np.isfinite(value)):
            return False, f"'{name}' is not a finite number"
    return True, "computed"
