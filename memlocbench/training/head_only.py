"""Training a classification head on a frozen network from features computed once.

When every layer is frozen (the classifier-only model), the network below the head computes the
same thing at every step, except for dropout. With ``ComputeConfig.head_only = "cached-features"``
the last layer's outputs are computed once, in eval mode (no dropout), and each training step runs
only the head (and, for decoders, the final layer norm) on them. The paper's code runs the whole
frozen network in train mode at every step; that is the default ("full-forward").
"""

from __future__ import annotations

import torch

from memlocbench.config.compute import autocast
from memlocbench.data.encoding import Encoded
from memlocbench.models.partial_forward import cache_per_example, logits_from, pad_hidden, run_layers
from memlocbench.contracts.protocols import ModelAdapter


class CachedHeadInput:
    """``forward(model, chunk)`` -> logits of the examples ``chunk`` of ``enc``, from cached
    last-layer outputs. Valid while the model's layers keep the weights they had when it was built."""

    def __init__(self, adapter: ModelAdapter, model: torch.nn.Module, enc: Encoded, batch_size: int,
                 precision: str = "fp32"):
        self.adapter, self.enc = adapter, enc
        self.num_layers = len(adapter.layer_modules(model))
        was_training = model.training
        model.eval()
        with autocast(model, precision):
            cached = cache_per_example(enc, batch_size,
                                       lambda batch: [run_layers(adapter, model, batch, 0, self.num_layers, None)])
        self.rows = [states[0] for states in cached]
        model.train(was_training)

    def __call__(self, model: torch.nn.Module, chunk: list[int]) -> torch.Tensor:
        batch = self.enc.batch(chunk)
        hidden = pad_hidden([self.rows[i] for i in chunk], batch["input_ids"].shape[1])
        return logits_from(self.adapter, model, batch, self.num_layers, hidden)
