"""Compare a probe's output arrays with what was expected, with a readable verdict.

Used by the trusted grader (against the reference answer, on secret inputs) and by the
notebook's visible tests (against stored answers for small fixed inputs), so that both
judge alike. A wrong value is reported where it is worst: its index, the expected value
and the computed one there (one number of the expected output, never an input), unless
the part's answer itself is secret (a numeric answer), when only the index and the size
of the error are given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-8


def _index(name: str, shape: tuple[int, ...], flat: int) -> str:
    """'dx[1, 2]' for the flat position ``flat`` of an array of ``shape``."""
    if not shape:
        return f"'{name}'"
    where = np.unravel_index(int(flat), shape)
    return f"{name}[{', '.join(str(int(i)) for i in where)}]"


def _value(x: float) -> str:
    return f"{float(x):.6g}"


def _expected_at(want: np.ndarray, flat: int, reveal: bool) -> str:
    """'expected 0.413, ' (the expected value at one position), or '' for a secret one."""
    return f"expected {_value(want.flat[flat])}, " if reveal else ""


def compare_outputs(got: Mapping[str, np.ndarray] | None, expected: Mapping[str, np.ndarray],
                    rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                    reveal: bool = True) -> tuple[bool, str]:
    """(passed, message) for one case.

    ``got``: the submission's probe's arrays, or None when it produced none; ``reveal``:
    False for a secret answer: the message then gives no expected value.
    """
    if got is None:
        return False, "produced no result"
    for name, want in expected.items():
        if name not in got:
            return False, f"'{name}' is missing from the result"
        have = got[name]
        if have.dtype.kind not in "biuf":
            return False, f"'{name}' is not a number array (dtype {have.dtype})"
        if have.dtype.kind == "f" and want.dtype.kind == "f" and \
                have.dtype.itemsize < want.dtype.itemsize:
            # float32 is 1e-7 relative: it passes loose checks and fails tight ones by
            # chance, so it fails always and says why.
            return False, (f"'{name}' has dtype {have.dtype}, expected {want.dtype}: "
                           f"compute in {want.dtype}")
        if have.shape != want.shape:
            return False, f"'{name}' has shape {have.shape}, expected {want.shape}"
        bad = ~np.isfinite(have)
        if bad.any():
            flat = int(np.flatnonzero(bad)[0])
            there = f"{_expected_at(want, flat, reveal)}got {_value(have.flat[flat])}"
            return False, (f"'{name}' contains NaN or infinity, first at "
                           f"{_index(name, have.shape, flat)} ({there})")
        if not np.allclose(have, want, rtol=rtol, atol=atol):
            diff = np.abs(have.astype(np.float64) - want)
            if rtol == 0:  # an exact or absolute comparison (counts, sizes)
                flat = int(np.argmax(diff))
                what = f"largest difference {diff.flat[flat]:.3g}"
            else:
                relative = diff / np.maximum(np.abs(want), atol / rtol)
                flat = int(np.argmax(relative))
                what = f"largest relative error {relative.flat[flat]:.2g}"
            there = f"{_expected_at(want, flat, reveal)}got {_value(have.flat[flat])}"
            if not have.shape:
                what = what.replace("largest ", "")
                return False, f"'{name}' has a wrong value ({what}: {there})"
            return False, (f"'{name}' has wrong values ({what} at "
                           f"{_index(name, have.shape, flat)}: {there})")
    return True, "correct"


def return_hint(function: str, got: Iterable[str] | None, expected: list[str] | None = None,
                error: str = "") -> str:
    """A sentence saying that ``function`` returned the wrong kind of value, or "".

    ``got`` and ``expected`` are lists of kinds (``runner.return_kind``: "None",
    "2 values", "an array", ...) the submission's and the reference's function returned;
    ``expected`` is None when the reference's are not known (``validate``): then the hint
    relies on what is never right (None) or on the error the probe raised.
    """
    got = list(got or ())
    if "None" in got and "None" not in (expected or ()):
        return (f"{function} returned None: it must `return` its result (printing a value "
                f"is not returning it)")
    if expected:
        odd = [k for k in got if k not in expected]
        if not odd:
            return ""
        have, want = odd[0], expected[0]
    else:
        unpack = re.search(r"values to unpack \(expected (\d+)", error)
        single = [k for k in got if k in ("an array", "a number")]
        if not (unpack and single):
            return ""
        have, want = single[0], f"{unpack.group(1)} values"
    if want.endswith(" values"):
        tuple_of = f"a tuple of {want}"
        if want == "2 values" and function.endswith("_forward"):
            tuple_of += " (return out, cache)"
        return f"{function} returned {have} where {tuple_of} is expected"
    return f"{function} returned {have} where {want} is expected"
