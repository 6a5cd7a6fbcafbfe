"""Chapter 1's computational-graph engine: order, fan-out, and MLP's gradients."""

import numpy as np

from dlcourse.gradcheck import eval_numerical_gradient, rel_error
from dlcourse.graph import apply, backprop, leaf, topological_order
from dlcourse.layers import (
    affine_backward,
    affine_forward,
    softmax_loss,
    tanh_backward,
    tanh_forward,
)
from dlcourse.models import MLP


def _square(v):
    return v * v, v


def _square_backward(d, v):
    return 2 * v * d


def test_fan_out_gradients_add():
    """y = x^2 used twice: L = y + y^2, dL/dx = 2x + 4x^3."""
    x = leaf(np.array([1.5, -0.5]), "x")
    y = apply(_square, _square_backward, x, label="y")
    y2 = apply(_square, _square_backward, y, label="y2")
    total = apply(lambda a, b: (np.sum(a + b), a.shape), lambda d, s: (
        np.full(s, d), np.full(s, d)), y, y2, label="L")
    order = backprop(total)
    assert [n.label for n in order] == ["x", "y", "y2", "L"]
    np.testing.assert_allclose(x.grad, 2 * x.value + 4 * x.value ** 3)
    # a second sweep starts from scratch instead of adding to old gradients
    backprop(total)
    np.testing.assert_allclose(x.grad, 2 * x.value + 4 * x.value ** 3)


def test_topological_order_puts_parents_first_and_each_node_once():
    a = leaf(1.0, "a")
    b = apply(_square, _square_backward, a, label="b")
    c = apply(lambda u, v: (u * v, (u, v)), lambda d, uv: (d * uv[1], d * uv[0]),
              a, b, label="c")
    order = topological_order(c)
    assert [n.label for n in order] == ["a", "b", "c"]


def test_graph_of_a_three_layer_net_gives_mlp_gradients(rng):
    net = MLP((5, 6, 4, 3), rng, activation="tanh", reg=0.2)
    x, y = rng.normal(size=(7, 5)), rng.integers(0, 3, size=7)
    p = {k: leaf(w, k) for k, w in net.params.items()}
    h = leaf(x, "x")
    terms = []
    for l in (1, 2, 3):
        h = apply(affine_forward, affine_backward, h, p[f"W{l}"], p[f"b{l}"],
                  label=f"Z{l}")
        if l < 3:
            h = apply(tanh_forward, tanh_backward, h, label=f"A{l}")
        terms.append(apply(lambda w: (0.5 * net.reg * np.sum(w * w), w),
                           lambda d, w: d * net.reg * w, p[f"W{l}"], label=f"R{l}"))
    ce = apply(lambda s: softmax_loss(s, y), lambda d, ds: d * ds, h, label="CE")
    total = apply(lambda *t: (sum(t), len(t)), lambda d, n: (d,) * n, ce, *terms,
                  label="L")
    backprop(total)
    loss, grads = net.loss(x, y)
    assert abs(total.value - loss) < 1e-12
    for k, g in grads.items():
        assert rel_error(p[k].grad, g) < 1e-12, k
    # and both equal centred differences
    num = eval_numerical_gradient(lambda _w: net.loss(x, y)[0], net.params["W1"])
    assert rel_error(p["W1"].grad, num) < 1e-7
