"""The sentence representation at every hidden state of a model: what probes and representation analyses read."""

from __future__ import annotations

import torch


@torch.no_grad()
def sentence_features(adapter, model, enc, batch_size: int) -> torch.Tensor:
    """[L+1, N, d]: the adapter's sentence representation at every hidden state (the embeddings, then
    each layer's output) for every example of ``enc``, on the CPU, from batched eval-mode forward passes."""
    model.eval()
    out = None
    for chunk, batch in enc.eval_batches(list(range(len(enc.ids))), batch_size):
        hs = model(**batch, output_hidden_states=True).hidden_states
        reps = torch.stack([adapter.sentence_representation(h, batch["attention_mask"]) for h in hs])
        if out is None:
            out = torch.zeros(reps.shape[0], len(enc.ids), reps.shape[-1])
        out[:, chunk] = reps.float().cpu()  # the probes train on the CPU: they are small
    return out
