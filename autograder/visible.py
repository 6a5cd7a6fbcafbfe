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

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder.course.assignment import load_module
from autograder.course.compare import compare_outputs, return_hint
from autograder.run.in_sandbox import NotebookNamespace, short_error

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from autograder.course.assignment import Assignment

    # (label, got, expected, inputs, why): one case of a part, as :func:`judge` reads it
    Case = tuple[str, Mapping[str, np.ndarray] | None, Mapping[str, np.ndarray] | None,
                 Mapping[str, np.ndarray], str | None]

FILENAME = "visible.json"


def array_to_json(a: ArrayLike) -> dict[str, Any]:
    """{"dtype", "shape", "data"}: an array as plain JSON numbers."""
    a = np.asarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.ravel().tolist()}


def array_from_json(d: Mapping[str, Any]) -> np.ndarray:
    return np.array(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])


def build(assignment: Assignment, inputs: dict[tuple[str, str], dict[str, np.ndarray]],
          outputs: dict[tuple[str, str], dict[str, np.ndarray]],
          returned: dict[str, dict[str, list[str]]] | None = None) -> dict[str, Any]:
    """The visible.json document for the visible cases of every part. ``returned``: the
    reference's ``{grade_id: {function: [kind, ...]}}``, so that a check can say
    "relu_forward returned an array where a tuple of 2 values is expected"."""
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
        if returned and returned.get(p.grade_id):
            parts[p.grade_id]["returned"] = returned[p.grade_id]
    return {"assignment": assignment.name, "notebook": assignment.notebook.name,
            "order": [p.grade_id for p in assignment.parts],
            "forbidden_modules": list(assignment.forbidden_modules), "parts": parts}


def write(path: Path | str, document: dict[str, Any]) -> None:
    """Indented JSON with each array's numbers on one line (thousands of numbers one per
    line make the file unreadable and its diffs long); a file that would not change is
    left alone (not even touched)."""
    text = json.dumps(document, indent=1, sort_keys=True)
    text = re.sub(r'"data": \[\n([^\]]*)\n\s*\]', lambda m: '"data": [' + " ".join(
        m.group(1).split()) + "]", text) + "\n"
    path = Path(path)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


# Arrays of a new release that differ from the committed file by less than this share of
# the part's own tolerance keep the committed values: the reference answer computed on
# another machine (another BLAS kernel, another libm) differs in the last digits, and a
# release must not rewrite a committed file for that. Any difference a student's visible
# check could notice is far larger.
KEEP_WITHIN = 1e-3


def keep_unchanged(document: dict[str, Any], committed: object) -> dict[str, Any]:
    """``document`` (a new visible.json) with every input and expected array that equals
    the ``committed`` one (same part, same case), to within KEEP_WITHIN of its part's
    tolerance, replaced by the committed array, so releasing the same set again writes
    the same bytes."""
    if not isinstance(committed, dict) or not isinstance(committed.get("parts"), dict):
        return document
    for gid, part in document["parts"].items():
        old = committed["parts"].get(gid)
        if not isinstance(old, dict) or not isinstance(old.get("cases"), list):
            continue
        old_cases = {c.get("name"): c for c in old["cases"] if isinstance(c, dict)}
        rtol, atol = part["rtol"] * KEEP_WITHIN, part["atol"] * KEEP_WITHIN
        for case in part["cases"]:
            old_case = old_cases.get(case["name"], {})
            for key in ("inputs", "expected"):
                new_arrays, old_arrays = case.get(key), old_case.get(key)
                if not isinstance(new_arrays, dict) or not isinstance(old_arrays, dict):
                    continue
                for name, value in new_arrays.items():
                    if name in old_arrays and _same(value, old_arrays[name], rtol, atol):
                        new_arrays[name] = old_arrays[name]
    return document


def _same(new: Mapping[str, Any], old: Mapping[str, Any], rtol: float, atol: float) -> bool:
    try:
        a, b = array_from_json(new), array_from_json(old)
    except (KeyError, TypeError, ValueError):
        return False
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def load(folder: Path | str = ".") -> dict[str, Any]:
    """Read visible.json from ``folder``; a clear error if the file is not there."""
    path = Path(folder) / FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: keep the notebook in its problem-set folder, beside "
            f"{FILENAME} and probes.py")
    return json.loads(path.read_text())


def _probes(folder: Path | str) -> ModuleType:
    return load_module(Path(folder) / "probes.py", "probes")


def case_labels(cases: Sequence[str]) -> dict[str, str]:
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


def judge(spec: Mapping[str, Any], cases: Iterable[Case],
          probes: ModuleType) -> tuple[float, str]:
    """(points, message) for one part over its cases, as the grader scores it.

    ``spec``: {"points", "weights", "rtol", "atol", "scorer", "reveal"}. ``cases``: a list of
    (label, got, expected, inputs, why) with ``got`` None when the code produced nothing
    (``why`` says why) and ``expected`` None when the answer is not public (then only
    finite numbers are asked for). With ``weights``, each output earns its points when it
    is right in every case.
    """
    weights = dict(spec.get("weights") or {})  # {name: points} or [[name, points], ...]
    reveal = spec.get("reveal", True)  # False: a secret answer, no expected value shown
    failed: dict[str, str] = {}  # output name -> message of its first failing case
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
                                                  spec["rtol"], spec["atol"], reveal)
                    if not ok:
                        failed[name] = f"on {label}: {message}"
            continue
        else:
            ok, message = compare_outputs(got, expected, spec["rtol"], spec["atol"], reveal)
        if not ok:
            return 0.0, f"on {label}: {message}"
    if weights and failed:
        right = [name for name in weights if name not in failed]
        points = float(sum(weights[name] for name in right))
        earned = (f"{', '.join(right)} right ({points:g} of {spec['points']:g} points); "
                  if right else "")
        return points, earned + "; ".join(failed.values())
    return float(spec["points"]), passed_message


def source_problem(doc: Mapping[str, Any], part: Mapping[str, Any],
                   namespace: Mapping[str, Any]) -> str | None:
    """The grader's source rules, applied to the cells this kernel has run (IPython's
    ``In``): a graded function imported, replaced, or using a forbidden module or a
    forbidden shortcut. One message, or None (also outside IPython, where the cells are
    not known; ``autograder validate`` applies the rules to the saved notebook)."""
    from autograder import ownwork
    from autograder.course.notebooks import CodeCell, check_source_rules

    cells = _cells_run(namespace)
    if cells is None:
        return None
    # cell n of the history is the cell Jupyter shows as [n]
    cells = [CodeCell(c, n) for n, c in enumerate(cells) if isinstance(c, str) and c.strip()]
    problems = check_source_rules(cells, part["functions"], doc["forbidden_modules"])
    for name in part["functions"]:
        if name in problems:
            return problems[name]
    return ownwork.check([c.source for c in cells],
                         {"part": part.get("own_work")}).get("part")


def _cells_run(namespace: Mapping[str, Any]) -> list[Any] | None:
    """The cells this kernel has run, as typed (IPython's raw input history: ``In`` holds
    them already translated, a ``%%time`` cell's function inside a string), or None."""
    try:
        raw = namespace["get_ipython"]().history_manager.input_hist_raw
    except Exception:  # noqa: BLE001 - not IPython, or no history: the translated ones
        raw = namespace.get("In")
    return list(raw) if isinstance(raw, list) else None


def check(grade_id: str, namespace: dict[str, Any], folder: Path | str = ".") -> None:
    """Run one part's visible cases on the functions in ``namespace`` (a notebook's
    ``globals()``). Prints a line when they pass; raises AssertionError saying what is
    wrong when they do not. Errors raised by the code itself reach the student as they
    are, with their traceback."""
    from autograder.run.in_sandbox import watched_calls

    doc = load(folder)
    part = doc["parts"][grade_id]
    problem = source_problem(doc, part, namespace)
    if problem:
        raise AssertionError(f"{grade_id}: {problem} (0 points)")
    probes = _probes(folder)
    watch = part.get("own_work") or {}
    labels = case_labels([c["name"] for c in part["cases"]])
    returned: dict[str, list[str]] = {}  # function -> kinds it returned, over every case
    cases: list[Case] = []
    for case in part["cases"]:
        inputs = {k: array_from_json(v) for k, v in case["inputs"].items()}
        with watched_calls(namespace, watch.get("functions", ()) if watch.get("calls")
                           else (), watch.get("calls", {})) as calls:
            ns = NotebookNamespace(namespace)  # notes what each function returned
            ns.returned = returned
            try:
                outputs = getattr(probes, part["probe"])(ns, **inputs)
            except Exception as exc:
                if calls["over"]:
                    outputs = None
                else:
                    hint = _hint(returned, short_error(exc), part.get("returned"))
                    if not hint:
                        raise
                    raise AssertionError(f"{grade_id}: {hint} ({short_error(exc)})") from exc
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
        hint = _hint(returned, message, part.get("returned"))
        raise AssertionError(f"{grade_id}: {hint} ({message})" if hint else
                             f"{grade_id}: {message}")
    n = len(cases)
    which = "on the visible case" if n == 1 else f"on all {n} visible cases"
    text = f"passed {which}" if message == "passed" else f"{message} ({which})"
    print(f"{grade_id}: {text}; the hidden cases decide the {total:g} {unit}")


def _hint(returned: Mapping[str, list[str]], message: str,
          expected: Mapping[str, list[str]] | None = None) -> str:
    """A sentence on what a function returned that cannot be right, or "". ``returned``:
    {function: kinds} seen in this check; ``expected``: what the reference's functions
    returned, when visible.json says."""
    for function, kinds in returned.items():
        want = (expected or {}).get(function)
        if hint := return_hint(function, kinds, want, message):
            return hint
    return ""


def finite_numbers(got: Mapping[str, np.ndarray]) -> tuple[bool, str]:
    for name, value in got.items():
        if value.dtype.kind not in "biuf" or not np.all(np.isfinite(value)):
            return False, f"'{name}' is not a finite number"
    return True, "computed"
