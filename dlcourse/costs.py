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
