"""Layers as forward/backward pairs, grouped by chapter."""

from dlcourse.layers.activations import (
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from dlcourse.layers.fc import affine_backward, affine_forward
from dlcourse.layers.losses import softmax, softmax_loss

__all__ = [
    "affine_backward",
    "affine_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax",
    "softmax_loss",
    "tanh_backward",
    "tanh_forward",
]
