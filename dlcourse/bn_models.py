"""Networks for chapter 4's experiments with batch normalization.

``ConvNetBN``: a small conv net with or without spatial batch normalization.
``DeepMLP``: a deep fully connected network with a chosen weight scale, batch
normalization before or after the nonlinearity (or none), and optionally the incomplete
"detached" BN gradient that treats the batch statistics as constants. Both have
``params``, ``loss(x, y)`` and ``predict(x)``, so ``dlcourse.train.train`` trains them.
"""

from itertools import pairwise

import numpy as np

from dlcourse.layers import (
    affine_backward,
    affine_forward,
    conv_backward_im2col,
    conv_forward_im2col,
    max_pool_backward_fast,
    max_pool_forward_fast,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from dlcourse.layers.norm import (
    batchnorm_backward,
    batchnorm_backward_detached,
    batchnorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_backward_detached,
    spatial_batchnorm_forward,
)


class ConvNetBN:
    """conv 3x3 (pad 1) -> [spatial BN] -> ReLU -> 2x2 max pool -> affine -> softmax.
    Chapter 4.

    Inputs of shape (N, C, H, W) with even H and W. Parameters: W1 (F, C, 3, 3), then
    either b1 (F,) (no BN) or gamma1, beta1 (F,) (with BN; the convolution's bias would be
    cancelled by BN's mean subtraction, so it has none), W2 (F*H/2*W/2, classes), b2.

    Inputs:
        input_shape: (C, H, W).
        rng: numpy Generator for the initial weights (He).
        n_filters: F.
        batchnorm: with spatial BN between the convolution and the ReLU, or without.
        momentum: of BN's running averages (the library's convention, weight of the old).
        detach_stats: train with batchnorm_backward_detached (chapter 4's experiment).
    """

    def __init__(self, input_shape, rng, n_filters=8, n_classes=10, batchnorm=True,
                 momentum=0.9, detach_stats=False):
        C, H, W = input_shape
        self.batchnorm, self.detach_stats = batchnorm, detach_stats
        d = n_filters * (H // 2) * (W // 2)
        self.params = {"W1": rng.normal(0.0, np.sqrt(2.0 / (9 * C)),
                                        size=(n_filters, C, 3, 3))}
        if batchnorm:
            self.params["gamma1"] = np.ones(n_filters)
            self.params["beta1"] = np.zeros(n_filters)
        else:
            self.params["b1"] = np.zeros(n_filters)
        self.params["W2"] = rng.normal(0.0, np.sqrt(2.0 / d), size=(d, n_classes))
        self.params["b2"] = np.zeros(n_classes)
        self.bn_param = {"mode": "train", "momentum": momentum}

    def scores(self, x, mode="train"):
        """Class scores (N, classes) for x (N, C, H, W) and the layers' caches; ``mode``
        "test" uses BN's running averages."""
        p = self.params
        bias = p.get("b1", np.zeros(p["W1"].shape[0]))
        h, c_conv = conv_forward_im2col(x, p["W1"], bias, stride=1, pad=1)
        c_bn = None
        if self.batchnorm:
            self.bn_param["mode"] = mode
            h, c_bn = spatial_batchnorm_forward(h, p["gamma1"], p["beta1"],
                                                self.bn_param)
        h, c_relu = relu_forward(h)
        h, c_pool = max_pool_forward_fast(h, pool_height=2, pool_width=2, stride=2)
        s, c_fc = affine_forward(h, p["W2"], p["b2"])
        return s, (c_conv, c_bn, c_relu, c_pool, c_fc)

    def loss(self, x, y):
        """Mean cross-entropy on a training batch (batch statistics), and all gradients."""
        s, (c_conv, c_bn, c_relu, c_pool, c_fc) = self.scores(x, mode="train")
        loss, d_scores = softmax_loss(s, y)
        grads = {}
        dh, grads["W2"], grads["b2"] = affine_backward(d_scores, c_fc)
        dh = relu_backward(max_pool_backward_fast(dh, c_pool), c_relu)
        if self.batchnorm:
            backward = (spatial_batchnorm_backward_detached if self.detach_stats
                        else spatial_batchnorm_backward)
            dh, grads["gamma1"], grads["beta1"] = backward(dh, c_bn)
        _, grads["W1"], db1 = conv_backward_im2col(dh, c_conv)
        if "b1" in self.params:
            grads["b1"] = db1
        return loss, grads

    def predict(self, x, mode="test"):
        """Most likely class of each example, by default with the running averages."""
        return self.scores(x, mode=mode)[0].argmax(axis=1)


class DeepMLP:
    """A deep ReLU network with optional batch normalization. Chapter 4.

    ``bn="before"``: (affine without bias -> BN -> ReLU) per hidden layer, as Ioffe and
    Szegedy place it; ``bn="after"``: (affine -> ReLU -> BN); ``bn=None``: (affine ->
    ReLU). The output layer is affine with a bias. Parameters ``W1..WL``, ``b*`` where a
    layer has a bias, ``gamma*``/``beta*`` where it has BN.

    Inputs:
        sizes: layer widths, input first and classes last, e.g. (64, 100, 100, 10).
        rng: numpy Generator for the initial weights.
        weight_scale: standard deviation of every initial weight; None gives He's
            sqrt(2 / fan_in).
        bn: "before", "after" or None.
        detach_stats: use batchnorm_backward_detached (the incomplete gradient).
        bias_before_bn: keep a bias in the affine layers before BN (bn="before"); BN
            cancels it and its true gradient is 0 (chapter 4's detached experiment).
        momentum: of BN's running averages.
    """

    def __init__(self, sizes, rng, weight_scale=None, bn="before", detach_stats=False,
                 bias_before_bn=False, momentum=0.9):
        if bn not in ("before", "after", None):
            raise ValueError(f"bn must be 'before', 'after' or None, got {bn!r}")
        self.sizes, self.bn, self.detach_stats = tuple(sizes), bn, detach_stats
        self.n_layers = len(sizes) - 1
        self.params, self.bn_params = {}, {}
        for l, (n_in, n_out) in enumerate(pairwise(sizes), start=1):
            std = np.sqrt(2.0 / n_in) if weight_scale is None else weight_scale
            self.params[f"W{l}"] = rng.normal(0.0, std, size=(n_in, n_out))
            hidden = l < self.n_layers
            if not (hidden and bn == "before") or bias_before_bn:
                self.params[f"b{l}"] = np.zeros(n_out)
            if hidden and bn is not None:
                self.params[f"gamma{l}"] = np.ones(n_out)
                self.params[f"beta{l}"] = np.zeros(n_out)
                self.bn_params[l] = {"mode": "train", "momentum": momentum}

    def _bn(self, l, h, mode):
        self.bn_params[l]["mode"] = mode
        p = self.params
        return batchnorm_forward(h, p[f"gamma{l}"], p[f"beta{l}"], self.bn_params[l])

    def scores(self, x, mode="train"):
        """Class scores (N, classes) for x (N, D) and the caches, layer by layer."""
        p, caches, h = self.params, [], x
        for l in range(1, self.n_layers + 1):
            bias = p.get(f"b{l}", np.zeros(p[f"W{l}"].shape[1]))
            h, c_fc = affine_forward(h, p[f"W{l}"], bias)
            layer = {"fc": c_fc}
            if l < self.n_layers:
                if self.bn == "before":
                    h, layer["bn"] = self._bn(l, h, mode)
                h, layer["relu"] = relu_forward(h)
                if self.bn == "after":
                    h, layer["bn"] = self._bn(l, h, mode)
            caches.append(layer)
        return h, caches

    def loss(self, x, y):
        """Mean cross-entropy on a training batch (batch statistics), and all gradients."""
        s, caches = self.scores(x, mode="train")
        loss, dh = softmax_loss(s, y)
        backward = batchnorm_backward_detached if self.detach_stats else batchnorm_backward
        grads = {}
        for l in range(self.n_layers, 0, -1):
            layer = caches[l - 1]
            if l < self.n_layers:
                if self.bn == "after":
                    dh, grads[f"gamma{l}"], grads[f"beta{l}"] = backward(dh, layer["bn"])
                dh = relu_backward(dh, layer["relu"])
                if self.bn == "before":
                    dh, grads[f"gamma{l}"], grads[f"beta{l}"] = backward(dh, layer["bn"])
            dh, grads[f"W{l}"], db = affine_backward(dh, layer["fc"])
            if f"b{l}" in self.params:
                grads[f"b{l}"] = db
        return loss, grads

    def predict(self, x, mode="test"):
        """Most likely class of each row of x (N, D), by default with running averages."""
        return self.scores(x, mode=mode)[0].argmax(axis=1)
