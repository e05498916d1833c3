"""GPT-NeoX (pythia-160m): a decoder whose classifier reads the last token; fields are joined with
a literal "|" (the paper: EOS as separator failed on WiC).

Parameters (transformers 5.x ``GPTNeoXForSequenceClassification``): ``gpt_neox.embed_in`` is the
embedding (rotary positions have no parameters); ``gpt_neox.layers.<i>`` the layers;
``gpt_neox.final_layer_norm`` and ``score`` the head. ``GPTNeoXLayer`` returns a tensor.
"""

from __future__ import annotations

import re

from memlocbench.api import DecoderAdapter


class GPTNeoXAdapter(DecoderAdapter):
    family = "gpt-neox"
    _LAYER_RE = re.compile(r"^gpt_neox\.layers\.(\d+)\.")
    _EMBED_RE = re.compile(r"^gpt_neox\.embed_in\.")
    _layers_path = "gpt_neox.layers"
    _ffn_out_path = "mlp.dense_4h_to_h"

    def separator(self, tokenizer) -> str:
        return "|"
