"""Gradient attribution the paper's way (Dankers & Titov 2024, section 4; ``gradient_analysis.main`` and
``visualise_gradients.process_gradients`` of vernadankers/memorisation_localisation): batch size 1, one
backward pass per example, gradients summed over a group and divided by its size. The fast path
(``memlocbench_methods.gradient_attribution.gradient_difference``) takes one batched pass for the
difference of the two group means instead."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def group_gradient_per_example(adapter, model, enc, indices, labels) -> dict[str, torch.Tensor]:
    """Mean over ``indices`` of d logit[label] / d theta for every parameter the adapter assigns to a
    layer (``parameter_group`` an int), one example per forward and backward pass. Like the fast path,
    it leaves exactly those parameters trainable (``requires_grad``) and the model in eval mode."""
    model.eval()
    names = [n for n, _ in model.named_parameters() if isinstance(adapter.parameter_group(n), int)]
    keep = set(names)
    for n, p in model.named_parameters():
        p.requires_grad_(n in keep)
    params = [p for n, p in model.named_parameters() if n in keep]
    total = [torch.zeros_like(p) for p in params]
    for i in indices:
        logits = model(**enc.batch([i])).logits
        for t, g in zip(total, torch.autograd.grad(logits[0, labels[i]], params)):
            t += g
    return {n: t / len(indices) for n, t in zip(names, total)}


def paper_forget_gradients(model, enc, indices, labels) -> dict[str, torch.Tensor]:
    """``gradient_analysis.main``: batch size 1, loss = -NLLLoss(logits, label) (i.e. the label's raw
    logit), backward, gradients summed over the group and divided by its size; embeddings and pooler
    skipped."""
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(True)
    total: dict[str, torch.Tensor] = {}
    for i in indices:
        logits = model(**enc.batch([i])).logits
        loss = -F.nll_loss(logits, torch.tensor([labels[i]]))
        loss.backward()
        for k, v in model.named_parameters():
            if v.grad is None or any(s in k for s in ("embed", "wpe", "wte", "project_in", "pooler")):
                continue
            total[k] = total.get(k, 0) + v.grad.detach().clone()
        model.zero_grad()
    return {k: v / len(indices) for k, v in total.items()}


def paper_per_layer(grads: dict[str, dict[str, torch.Tensor]]) -> dict[int, float]:
    """``visualise_gradients.process_gradients`` with normalise_by_clean and the L1 norm: per layer
    the summed |noisy - clean| over its parameters (head and final norms skipped)."""
    per_layer: dict[int, float] = {}
    for k, v in grads["noisy"].items():
        if any(s in k for s in ("embed", "final", "wte", "wpe", "ln_f", "pooler", "classifier")):
            continue
        layer = int(k.split(".")[3])
        per_layer[layer] = per_layer.get(layer, 0.0) + float((v - grads["clean"][k]).abs().sum())
    return per_layer
