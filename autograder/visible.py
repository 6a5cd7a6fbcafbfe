"""The visible checks: small fixed cases students can see and run themselves.

``autograder release`` writes ``visible.json`` beside the problem set's notebook: for
each part, the probe's name, its inputs for the public case 0 and the reference answer's
outputs for them, as plain JSON numbers. The notebook's test cells call :func:`check`,
and ``autograder validate`` runs the same cases outside the kernel. Both use the trusted
grader's comparison, so an honest notebook gets the same verdict everywhere.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np

from autograder.compare import compare_outputs, return_hint
from autograder.runner import NotebookNamespace, short_error

FILENAME = "visible.json"


def array_to_json(a):
    a = np.asarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.ravel().tolist()}


def array_from_json(d):
    return np.array(d["data"], dtype=np.dtype(d["dtype"])).reshape(d["shape"])


def build(assignment, inputs, outputs, returned=None):
    """The visible.json document for case 0 of every part. ``returned``: the reference's
    ``{grade_id: {function: [kind, ...]}}``, so that a check can say "relu_forward returned
    an array where a tuple of 2 values is expected"."""
    parts = {}
    for p in assignment.parts:
        key = (p.grade_id, "0")
        parts[p.grade_id] = {
            "probe": p.probe, "points": p.points, "functions": list(p.functions),
            "rtol": p.rtol, "atol": p.atol, "scorer": p.scorer,
            "inputs": {k: array_to_json(v) for k, v in inputs[key].items()},
            # A scorer judges by itself; a private answer must not be published.
            "expected": ({k: array_to_json(v) for k, v in outputs[key].items()}
                         if p.public_answer and not p.scorer else None),
        }
        if returned and returned.get(p.grade_id):
            parts[p.grade_id]["returned"] = returned[p.grade_id]
    return {"assignment": assignment.name, "notebook": assignment.notebook.name,
            "order": [p.grade_id for p in assignment.parts],
            "forbidden_modules": list(assignment.forbidden_modules), "parts": parts}


def write(path, document):
    """Write visible.json; a file that would not change is left alone (not even touched)."""
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    path = Path(path)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


# Arrays of a new release that differ from the committed file by less than this share of
# the part's own tolerance keep the committed values: the reference answer computed on
# another machine (another BLAS kernel, another libm) differs in the last digits, and a
# release must not rewrite a committed file for that. Any difference a student's visible
# check could notice is far larger.
KEEP_WITHIN = 1e-3


def keep_unchanged(document, committed):
    """``document`` (a new visible.json) with every input and expected array that equals
    the ``committed`` one, to within KEEP_WITHIN of its part's tolerance, replaced by the
    committed array, so releasing the same set again writes the same bytes."""
    if not isinstance(committed, dict) or not isinstance(committed.get("parts"), dict):
        return document
    for gid, part in document["parts"].items():
        old = committed["parts"].get(gid)
        if not isinstance(old, dict):
            continue
        rtol, atol = part["rtol"] * KEEP_WITHIN, part["atol"] * KEEP_WITHIN
        for key in ("inputs", "expected"):
            new_arrays, old_arrays = part.get(key), old.get(key)
            if not isinstance(new_arrays, dict) or not isinstance(old_arrays, dict):
                continue
            for name, value in new_arrays.items():
                if name in old_arrays and _same(value, old_arrays[name], rtol, atol):
                    new_arrays[name] = old_arrays[name]
    return document


def _same(new, old, rtol, atol):
    try:
        a, b = array_from_json(new), array_from_json(old)
    except (KeyError, TypeError, ValueError):
        return False
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


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


def check(grade_id, namespace, folder="."):
    """Run one part's visible case on the functions in ``namespace`` (a notebook's
    ``globals()``). Prints a line when it passes; raises AssertionError saying what is
    wrong when it does not."""
    part = load(folder)["parts"][grade_id]
    probes = _probes(folder)
    inputs = {k: array_from_json(v) for k, v in part["inputs"].items()}
    ns = NotebookNamespace(namespace)  # notes what each function returned
    try:
        outputs = getattr(probes, part["probe"])(ns, **inputs)
    except Exception as exc:
        hint = _hint(ns, short_error(exc), part.get("returned"))
        if not hint:
            raise
        raise AssertionError(f"{grade_id}: {hint} ({short_error(exc)})") from exc
    got = {k: np.asarray(v) for k, v in outputs.items()}
    ok, message = judge_visible(part, got, inputs, probes)
    if not ok:
        hint = _hint(ns, message, part.get("returned"))
        raise AssertionError(f"{grade_id}: {hint} ({message})" if hint else
                             f"{grade_id}: {message}")
    points = f"{part['points']:g} point{'' if part['points'] == 1 else 's'}"
    print(f"{grade_id}: {message} ({points})")


def _hint(ns, message, expected=None):
    """A sentence on what a function returned that cannot be right, or "". ``expected``:
    what the reference's functions returned, when visible.json says."""
    for function, kinds in ns.returned.items():
        want = (expected or {}).get(function)
        if hint := return_hint(function, kinds, want, message):
            return hint
    return ""


def judge_visible(part, got, inputs, probes):
    """(passed, message) for a visible case, as the grader judges a hidden one."""
    if part["scorer"]:
        return getattr(probes, part["scorer"])(got, inputs)
    if part["expected"] is None:
        ok, message = finite_numbers(got)
        return ok, (f"{message}; its value is checked only by the grader" if ok else message)
    expected = {k: array_from_json(v) for k, v in part["expected"].items()}
    ok, message = compare_outputs(got, expected, part["rtol"], part["atol"])
    return ok, "passed" if ok else message


def finite_numbers(got):
    for name, value in got.items():
        if value.dtype.kind not in "biuf" or not np.all(np.isfinite(value)):
            return False, f"'{name}' is not a finite number"
    return True, "computed"
