"""OPT (opt-125m): a decoder whose classifier reads the last token; EOS (``</s>``) separates fields.

Parameters (transformers 5.x ``OPTForSequenceClassification``): ``model.decoder.embed_tokens``,
``embed_positions`` and, in the wider OPTs, ``project_in`` are the embeddings (the paper freezes
names matching embed / project_in); ``model.decoder.layers.<i>`` the layers; ``final_layer_norm``,
``project_out`` and ``score`` the head. ``OPTDecoderLayer`` returns a tensor, so the partial forward
pass needs no wrapping.
"""

from __future__ import annotations

import re

from memlocbench.api import DecoderAdapter


class OPTAdapter(DecoderAdapter):
    family = "opt"
    _LAYER_RE = re.compile(r"^model\.decoder\.layers\.(\d+)\.")
    _EMBED_RE = re.compile(r"^model\.decoder\.(embed_tokens|embed_positions|project_in)\.")
    _layers_path = "model.decoder.layers"
    _ffn_out_path = "fc2"

    def ffn_output_norms(self, model):
        """OPT-125m normalises before each block (the output is linear in fc2's); OPT-350m after it
        (``final_layer_norm`` of the residual sum)."""
        layers = self.layer_modules(model)
        return [None if layer.do_layer_norm_before else layer.final_layer_norm for layer in layers]

    def separator(self, tokenizer) -> str:
        # OPT's tokenizer has its own <pad>, so EOS in the text never looks like padding
        return tokenizer.eos_token
