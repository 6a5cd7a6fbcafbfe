"""Counting parameters, multiply-adds and bytes. Chapter 1.

Convention: one multiply-add (MAC) is one multiplication followed by one addition;
a "FLOP" count would be about twice the MAC count.
"""


def fc_param_count(n_in, n_out, bias=True):
    """Parameters of a fully connected layer: n_in * n_out weights plus n_out biases."""
    return n_in * n_out + (n_out if bias else 0)


def fc_macs(n_in, n_out, batch=1):
    """Multiply-adds of one fully connected layer for a batch.

    Returns a dict:
        forward: batch * n_in * n_out (x @ w);
        backward_input: batch * n_in * n_out (dout @ w.T);
        backward_weight: batch * n_in * n_out (x.T @ dout, one outer product per sample);
        backward: the two together, 2x the forward. The bias gradient is a sum of
        batch * n_out additions and is not counted.
    """
    forward = batch * n_in * n_out
    return {
        "forward": forward,
        "backward_input": forward,
        "backward_weight": forward,
        "backward": 2 * forward,
    }


def memory_bytes(n_values, bytes_per_value=4):
    """Bytes to store n_values numbers (float32: 4 bytes, float64: 8)."""
    return n_values * bytes_per_value


def conv_param_count(c_in, c_out, kh, kw, bias=True):
    """Parameters of a convolution layer: (kh*kw*c_in + 1) * c_out. Chapter 2."""
    return (kh * kw * c_in + (1 if bias else 0)) * c_out


def conv_macs(c_in, c_out, kh, kw, h_out, w_out, batch=1):
    """Forward multiply-adds of a convolution layer: kh*kw*c_in*c_out*h_out*w_out each."""
    return batch * kh * kw * c_in * c_out * h_out * w_out


def receptive_field(layers):
    """Receptive field (in input pixels) of a stack of (kernel, stride) layers. Chapter 2.

    r_0 = 1; each layer adds (k - 1) times the product of the strides below it.
    """
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r
