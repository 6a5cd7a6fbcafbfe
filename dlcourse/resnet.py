"""A deep plain CNN and the same network with residual connections. Chapter 2.

Both networks have the same layers and the same number of parameters:

    stem:   conv 3x3 (C -> width, pad 1) -> ReLU
    blocks: h = ReLU(conv_a(x)); f = conv_b(h);
            plain: x <- ReLU(f);   residual: x <- ReLU(x + f)
    head:   global average pooling -> affine (width -> classes) -> softmax

so with ``n_blocks`` blocks there are 1 + 2 n_blocks convolution layers. The only
difference is the identity path ``x +`` of the residual block, whose gradient is
dL/dx = dL/dy (I + dF/dx) (chapter 2, section "Residual connections").
"""

import numpy as np

from dlcourse.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)
from dlcourse.layers.conv import conv_backward_im2col, conv_forward_im2col


class DeepCNN:
    """Plain (``residual=False``) or residual CNN on (N, C, H, W) inputs.

    Parameters: ``W0, b0`` the stem (width, C, 3, 3); ``W{2k+1}, W{2k+2}`` (and biases)
    the two convolutions of block k, (width, width, 3, 3) each; ``Wfc`` (width, classes),
    ``bfc``. He initialisation, std sqrt(2 / (9 * fan-in channels)), from ``rng``.
    ``residual_scale`` multiplies the initial weights of each block's second convolution
    (1 by default).
    """

    def __init__(self, input_shape, rng, width=12, n_blocks=4, n_classes=10,
                 residual=False, residual_scale=1.0):
        C = input_shape[0]
        self.residual = residual
        self.n_conv = 1 + 2 * n_blocks
        self.params = {}
        for layer in range(self.n_conv):
            c_in = C if layer == 0 else width
            std = np.sqrt(2.0 / (9 * c_in))
            if layer > 0 and layer % 2 == 0:
                std *= residual_scale
            self.params[f"W{layer}"] = rng.normal(0.0, std, size=(width, c_in, 3, 3))
            self.params[f"b{layer}"] = np.zeros(width)
        self.params["Wfc"] = rng.normal(0.0, np.sqrt(1.0 / width), size=(width, n_classes))
        self.params["bfc"] = np.zeros(n_classes)

    def _conv(self, x, layer):
        p = self.params
        return conv_forward_im2col(x, p[f"W{layer}"], p[f"b{layer}"], stride=1, pad=1)

    def scores(self, x):
        """Class scores (N, classes) and the caches of every layer."""
        caches = []
        h, c = self._conv(x, 0)
        h, r = relu_forward(h)
        caches.append((c, r))
        for block in range((self.n_conv - 1) // 2):
            a, ca = self._conv(h, 2 * block + 1)
            a, ra = relu_forward(a)
            f, cb = self._conv(a, 2 * block + 2)
            h, rb = relu_forward(h + f if self.residual else f)
            caches.append((ca, ra, cb, rb))
        shape = h.shape
        s, cfc = affine_forward(h.mean(axis=(2, 3)), self.params["Wfc"],
                                self.params["bfc"])
        return s, (caches, shape, cfc)

    def loss(self, x, y):
        """Mean cross-entropy and the gradients of every parameter."""
        s, (caches, shape, cfc) = self.scores(x)
        loss, dscores = softmax_loss(s, y)
        grads = {}
        dpool, grads["Wfc"], grads["bfc"] = affine_backward(dscores, cfc)
        N, C, H, W = shape
        dh = np.broadcast_to(dpool[:, :, None, None] / (H * W), shape).copy()
        for block in range(len(caches) - 2, -1, -1):
            ca, ra, cb, rb = caches[block + 1]
            dsum = relu_backward(dh, rb)  # gradient of x + f (or of f)
            da, grads[f"W{2 * block + 2}"], grads[f"b{2 * block + 2}"] = (
                conv_backward_im2col(dsum, cb))
            da = relu_backward(da, ra)
            dx, grads[f"W{2 * block + 1}"], grads[f"b{2 * block + 1}"] = (
                conv_backward_im2col(da, ca))
            # the identity path: dL/dx = dL/dy (I + dF/dx)
            dh = dx + dsum if self.residual else dx
        c, r = caches[0]
        dstem = relu_backward(dh, r)
        _, grads["W0"], grads["b0"] = conv_backward_im2col(dstem, c)
        return loss, grads

    def predict(self, x):
        return self.scores(x)[0].argmax(axis=1)

    def conv_grad_norms(self, x, y):
        """Frobenius norm of dL/dW for every convolution layer, from the input up."""
        _, grads = self.loss(x, y)
        return [float(np.linalg.norm(grads[f"W{k}"])) for k in range(self.n_conv)]
