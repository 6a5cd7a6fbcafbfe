"""Layers as forward/backward pairs, grouped by chapter.

``from dlcourse.layers import affine_forward`` works for every layer, but each submodule
is imported only when one of its names is first asked for (PEP 562). A problem set's
sandbox can so offer the layers of earlier chapters (say ``fc.py`` and ``conv.py``) without
the module that holds the set's own answers.
"""

import importlib

_WHERE = {
    "fc": ["affine_forward", "affine_backward"],
    "activations": ["relu_forward", "relu_backward", "sigmoid", "sigmoid_forward",
                    "sigmoid_backward", "tanh_forward", "tanh_backward"],
    "losses": ["softmax", "softmax_loss"],
    "conv": ["conv_output_size", "tf_output_size", "conv_forward_naive",
             "conv_backward_naive", "im2col", "col2im", "conv_forward_im2col",
             "conv_backward_im2col"],
    "attention": ["attention_forward", "attention_backward", "causal_mask",
                  "positional_encoding", "multi_head_attention_forward",
                  "multi_head_attention_backward", "transformer_block_forward",
                  "transformer_block_backward"],
    "norm": ["batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward",
             "spatial_batchnorm_backward", "layernorm_forward", "layernorm_backward"],
    "pool": ["max_pool_forward_naive", "max_pool_backward_naive", "avg_pool_forward_naive",
             "avg_pool_backward_naive", "max_pool_forward_fast", "max_pool_backward_fast",
             "global_avg_pool_forward", "global_avg_pool_backward"],
    "rnn": ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
            "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
            "lstm_last_cell", "gru_step_forward", "gru_step_backward", "gru_forward",
            "gru_backward", "clip_by_global_norm"],
    "embedding": ["embedding_forward", "embedding_backward"],
    "rnn_stack": ["init_recurrent", "stacked_forward", "stacked_backward",
                  "bidirectional_forward", "bidirectional_backward"],
    "dropout": ["dropout_forward", "dropout_backward"],
    "label_smoothing": ["label_smoothed_loss"],
    "transformer_blocks": ["padding_mask", "decoder_self_mask", "sequence_layernorm_forward",
                           "sequence_layernorm_backward", "feed_forward_forward",
                           "feed_forward_backward", "encoder_block_forward",
                           "encoder_block_backward", "decoder_block_forward",
                           "decoder_block_backward", "block_attention_weights"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'dlcourse.layers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dlcourse.layers.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return __all__
