"""Compare a probe's output arrays with what was expected, with a readable verdict.

Used by the trusted grader (against the reference answer, on secret inputs) and by the
notebook's visible tests (against stored answers for small fixed inputs), so that both
judge alike. Messages never print expected values: only names, shapes and error sizes.
"""

import numpy as np

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-8


def compare_outputs(got, expected, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL):
    """Return (passed, message) for one case.

    Inputs:
        got: {name: ndarray} from the submission's probe, or None when it produced none.
        expected: {name: ndarray}.
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
        if not np.all(np.isfinite(have)):
            return False, f"'{name}' contains NaN or infinity"
        if not np.allclose(have, want, rtol=rtol, atol=atol):
            diff = np.abs(have.astype(np.float64) - want)
            if rtol == 0:  # an exact or absolute comparison (counts, sizes)
                return False, f"'{name}' has wrong values (largest difference {diff.max():.3g})"
            worst = float(np.max(diff / np.maximum(np.abs(want), atol / rtol)))
            return False, f"'{name}' has wrong values (largest relative error {worst:.2g})"
    return True, "correct"
