"""GPT-Neo (gpt-neo-125m): a decoder whose classifier reads the last token; fields are joined with
a literal "|" (the paper: EOS as separator failed on WiC).

Parameters (transformers 5.x ``GPTNeoForSequenceClassification``): ``transformer.wte`` and
``transformer.wpe`` are the embeddings; ``transformer.h.<i>`` the layers; ``transformer.ln_f`` and
``score`` the head. Unlike OPT and GPT-NeoX, ``GPTNeoBlock`` still returns a tuple
``(hidden_states, attn_weights)`` and ``GPTNeoModel`` takes ``outputs[0]``, so a stand-in layer in
the partial forward pass must return a tuple too (``wrap_layer_output``); a bare tensor would be
indexed along the batch dimension.
"""

from __future__ import annotations

import re

import torch

from memlocbench.api import DecoderAdapter


class GPTNeoAdapter(DecoderAdapter):
    family = "gpt-neo"
    _LAYER_RE = re.compile(r"^transformer\.h\.(\d+)\.")
    _EMBED_RE = re.compile(r"^transformer\.(wte|wpe)\.")
    _layers_path = "transformer.h"
    _ffn_out_path = "mlp.c_proj"

    def separator(self, tokenizer) -> str:
        return "|"

    def wrap_layer_output(self, hidden: torch.Tensor) -> tuple:
        return (hidden, None)
