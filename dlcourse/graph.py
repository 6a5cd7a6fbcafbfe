"""Back-propagation as a computational graph. Chapter 1.

A :class:`Node` holds a value, the nodes it was computed from, and a function that turns
the gradient of the loss with respect to the value into gradients with respect to those
inputs: the layer's backward pass with its cache. :func:`backprop` visits the nodes in
reverse topological order, so each node's gradient is complete (every path from it to the
loss summed) before it is passed on. Nothing here knows a derivative: the rules are the
layers' own ``xxx_backward`` functions; the graph only orders them and adds up fan-out.
"""

import numpy as np


class Node:
    """One value of the graph.

    value: the array (or scalar) computed; parents: the input nodes, in the order the
    backward function returns their gradients; backward: f(grad of value) -> tuple of
    grads (None for a leaf); label: a name for printing; grad: filled by backprop.
    """

    def __init__(self, value, parents=(), backward=None, label=""):
        self.value = value
        self.parents = tuple(parents)
        self.backward = backward
        self.label = label
        self.grad = None


def leaf(value, label):
    """An input or parameter: a node without parents."""
    return Node(np.asarray(value, dtype=float), label=label)


def apply(forward, backward, *inputs, label, **kwargs):
    """Run a layer pair on nodes.

    forward(*values, **kwargs) -> (out, cache) runs now; backward(dout, cache)
    -> the inputs' gradients (one array or a tuple, one per input node) runs
    when back-propagation reaches the new node.
    """
    out, cache = forward(*(n.value for n in inputs), **kwargs)

    def grads(dout):
        g = backward(dout, cache)
        return g if isinstance(g, tuple) else (g,)

    return Node(out, inputs, grads, label)


def topological_order(root):
    """Every node that ``root`` depends on, each after all of its parents."""
    order, seen = [], set()

    def visit(node):
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


def backprop(root):
    """Fill ``grad`` of every node below the scalar ``root``: d root / d node.

    Sweeps the nodes from the root down; a node used twice (fan-out) gets
    the sum of its uses' gradients before it passes its own on. Returns the
    topological order (leaves first); the sweep visits it in reverse.
    """
    order = topological_order(root)
    for node in order:
        node.grad = None
    root.grad = 1.0
    for node in reversed(order):
        if node.backward is None or node.grad is None:
            continue
        grads = node.backward(node.grad)
        for parent, g in zip(node.parents, grads, strict=True):
            parent.grad = g if parent.grad is None else parent.grad + g
    return order
