"""Layer swapping the paper's way (Dankers & Titov 2024, section 4): for each window of consecutive
layers, copy the clean twin's layers into a copy of the memorising model and run every example through
the whole network; the fast path (``memlocbench_methods.layer_swapping.swap_cached``) caches the lower
layers instead."""

from __future__ import annotations

import copy

import torch

from memlocbench.api import window_key, windows


@torch.no_grad()
def swap_by_copy(adapter, memorising, clean, enc, labels, noisy_idx, batch_size=1) -> dict:
    """Per window ``"s-e"``: ``{"noisy_acc", "clean_acc"}``, the accuracy against ``labels`` on the
    noisy examples and on the others (NaN for an empty group), with the window's layers copied from
    ``clean`` into a copy of ``memorising``; ``batch_size`` examples per forward pass (1: no padding)."""
    L = len(adapter.layer_modules(memorising))
    noisy = set(noisy_idx)
    n_noisy, n_clean = len(noisy), len(labels) - len(noisy)
    out = {}
    for s, e in windows(L):
        hybrid = copy.deepcopy(memorising)
        for i in range(s, e + 1):
            adapter.layer_modules(hybrid)[i].load_state_dict(adapter.layer_modules(clean)[i].state_dict())
        correct = {"noisy": 0, "clean": 0}
        for k in range(0, len(labels), batch_size):
            chunk = list(range(k, min(k + batch_size, len(labels))))
            pred = hybrid(**enc.batch(chunk)).logits.argmax(-1).tolist()
            for i, p in zip(chunk, pred):
                correct["noisy" if i in noisy else "clean"] += int(p == labels[i])
        out[window_key((s, e))] = {"noisy_acc": correct["noisy"] / n_noisy if n_noisy else float("nan"),
                                   "clean_acc": correct["clean"] / n_clean if n_clean else float("nan")}
    return out
