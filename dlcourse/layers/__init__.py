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
from dlcourse.layers.conv import (
    col2im,
    conv_backward_im2col,
    conv_backward_naive,
    conv_forward_im2col,
    conv_forward_naive,
    conv_output_size,
    im2col,
    tf_output_size,
)
from dlcourse.layers.fc import affine_backward, affine_forward
from dlcourse.layers.losses import softmax, softmax_loss
from dlcourse.layers.pool import (
    avg_pool_backward_naive,
    avg_pool_forward_naive,
    global_avg_pool_backward,
    global_avg_pool_forward,
    max_pool_backward_fast,
    max_pool_backward_naive,
    max_pool_forward_fast,
    max_pool_forward_naive,
)

__all__ = [
    "avg_pool_backward_naive",
    "avg_pool_forward_naive",
    "col2im",
    "conv_backward_im2col",
    "conv_backward_naive",
    "conv_forward_im2col",
    "conv_forward_naive",
    "conv_output_size",
    "global_avg_pool_backward",
    "global_avg_pool_forward",
    "im2col",
    "max_pool_backward_fast",
    "max_pool_backward_naive",
    "max_pool_forward_fast",
    "max_pool_forward_naive",
    "tf_output_size",
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
