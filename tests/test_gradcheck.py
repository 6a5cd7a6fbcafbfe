"""The gradient checker itself: right on known functions, and it catches wrong gradients."""

import numpy as np

from dlcourse.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


def test_numerical_gradient_of_a_known_function(rng):
    x = rng.normal(size=(3, 4))
    grad = eval_numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8, atol=1e-9)


def test_numerical_gradient_leaves_x_unchanged(rng):
    x = rng.normal(size=(2, 3))
    before = x.copy()
    eval_numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    np.testing.assert_array_equal(x, before)


def test_array_version_is_the_vector_jacobian_product(rng):
    x = rng.normal(size=(4,))
    dout = rng.normal(size=(4,))
    grad = eval_numerical_gradient_array(np.exp, x, dout)
    np.testing.assert_allclose(grad, np.exp(x) * dout, rtol=1e-8)


def test_rel_error_is_scale_free_and_flags_a_wrong_gradient(rng):
    a = rng.normal(size=10)
    assert rel_error(a, a) == 0.0
    assert rel_error(1e6 * a, 1e6 * a * (1 + 1e-9)) < 1e-9
    # A gradient off by a factor of two (a classic bug) gives 1/3.
    assert abs(rel_error(a, 2 * a) - 1 / 3) < 1e-12
    # Both tiny: the 1e-8 floor keeps the ratio from exploding.
    assert rel_error(np.array([1e-12]), np.array([0.0])) <= 1e-4


def test_check_gradient_prints_one_short_line_and_fails_above_the_bound(capsys):
    import pytest

    from dlcourse.gradcheck import check_gradient

    a = np.array([1.0, 2.0, 3.0])
    assert check_gradient("dx", a, a + 1e-12) < 1e-10
    line = capsys.readouterr().out.rstrip("\n")
    assert "\n" not in line and len(line) <= 78 and line.startswith("dx")
    with pytest.raises(AssertionError, match="exceeds 1e-07"):
        check_gradient("dw", a, a * 1.001)
    with pytest.raises(ValueError, match="shape"):
        check_gradient("db", a, a[:2])
