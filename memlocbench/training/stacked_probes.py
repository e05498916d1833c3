"""The stacked-probe engine: small MLP probes on hidden-state features, many trained at once.

One probe per (hidden-state index, seed) job: an MLP (dropout, two hidden layers of ``hidden`` with
GELU, as in the paper's code) trained on a seeded train / validation / test split of the examples
(sizes int(0.7 n) and int(0.8 n) - int(0.7 n), as the paper's code), AdamW, ``epochs`` epochs over
fixed chunks of ``batch_size`` training examples whose order is reshuffled every epoch, keeping the
probe of the epoch with the best validation score among epochs after ``select_after_epoch`` (a later
epoch only if strictly better; the last epoch's probe when the score never rises above 0).

Speed: the probes are trained together as one stacked model; each keeps its own initialisation,
dropout generator, split and batch order, and AdamW is element-wise, so every probe follows exactly
the path it would follow alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from memlocbench.scoring.metrics import f1_per_class

#: the paper's probe settings; ``class_weights`` are those of its noisy (1) vs clean (0) probes
PROBE_DEFAULTS = {"hidden": 128, "dropout": 0.1, "epochs": 100, "select_after_epoch": 25, "batch_size": 32,
                  "learning_rate": 2e-4, "weight_decay": 1e-5, "seeds": [0, 1, 2, 3, 4], "class_weights": [0.33, 0.67],
                  "split": [0.7, 0.1, 0.2], "feature_batch_size": 64, "chunk_order_seed": 0}


def split_indices(n: int, seed: int, fractions) -> tuple[list[int], list[int], list[int]]:
    """A seeded shuffle cut as the paper's code: the first int(f0 n) train, up to int((f0 + f1) n) validation."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    a = int(fractions[0] * n)
    b = int(round(fractions[0] + fractions[1], 12) * n)  # 0.7 + 0.1 is 0.7999... in floats; the paper writes 0.8
    return order[:a], order[a:b], order[b:]


class StackedMLP(torch.nn.Module):
    """P independent MLPs d -> h -> h -> classes evaluated in one batched pass."""

    def __init__(self, inits: list[list[torch.Tensor]]):
        super().__init__()
        self.params = torch.nn.ParameterList([torch.nn.Parameter(torch.stack(ws)) for ws in zip(*inits)])

    def forward(self, x, masks=None):  # x: [P, B, d]; masks: dropout masks [P, B, d] or None
        w1, b1, w2, b2, w3, b3 = self.params
        if masks is not None:
            x = x * masks
        x = F.gelu(torch.baddbmm(b1.unsqueeze(1), x, w1))
        x = F.gelu(torch.baddbmm(b2.unsqueeze(1), x, w2))
        return torch.baddbmm(b3.unsqueeze(1), x, w3)


def probe_init(d: int, h: int, seed: int, num_classes: int = 2) -> list[torch.Tensor]:
    """nn.Linear's default initialisation of one probe, drawn from the probe's own generator."""
    g = torch.Generator().manual_seed(seed)
    ws = []
    for fan_in, fan_out in ((d, h), (h, h), (h, num_classes)):
        bound = 1 / math.sqrt(fan_in)
        ws.append((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound)
        ws.append((torch.rand(fan_out, generator=g) * 2 - 1) * bound)
    return ws


def positive_class_f1(pred: list[int], gold: list[int]) -> float:
    """F1 of class 1 (the default validation score of ``fit_probes``)."""
    return f1_per_class(pred, gold, 1)


def fit_probes(features: torch.Tensor, targets: torch.Tensor, jobs: list[tuple[int, int]], p: dict,
               num_classes: int = 2, class_weights: list[float] | None = None, val_score=positive_class_f1,
               ) -> tuple[dict[int, tuple[list[int], list[int], list[int]]], list[tuple[float, list[int], int]]]:
    """Train one probe per (hidden-state index, seed) job of ``features`` [states, N, d], all together, on
    ``targets`` (``num_classes`` classes; class-weighted loss with ``class_weights``, else uniform), with
    the settings ``p`` (keys of ``PROBE_DEFAULTS``). Returns the seeded splits per seed (train,
    validation, test indices) and, per job, the best validation score after ``select_after_epoch`` (the
    last epoch's if none rose above 0), that epoch's test predictions and the epoch."""
    d, n = features.shape[-1], features.shape[1]
    splits = {s: split_indices(n, s, p["split"]) for s in {s for _, s in jobs}}
    model = StackedMLP([probe_init(d, p["hidden"], 1000 * s + layer, num_classes) for layer, s in jobs])
    opt = torch.optim.AdamW(model.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"], fused=True)
    weight = torch.tensor(class_weights) if class_weights is not None else torch.ones(num_classes)
    layer_of = torch.tensor([layer for layer, _ in jobs]).unsqueeze(1)  # [P, 1]
    drop_gen = [torch.Generator().manual_seed(7919 * s + layer) for layer, s in jobs]
    # fixed chunks of the (shuffled) training split; their order is reshuffled every epoch, one
    # order for all probes, so that chunks of equal size meet in every stacked step
    train_sets = {s: torch.tensor(splits[s][0]) for s in splits}
    starts = list(range(0, len(next(iter(train_sets.values()))), p["batch_size"]))
    order_gen = torch.Generator().manual_seed(p["chunk_order_seed"])
    best = [(0.0, None, None) for _ in jobs]  # (val score, test predictions, epoch), the paper's start
    for epoch in range(1, p["epochs"] + 1):
        model.train()
        for c in torch.randperm(len(starts), generator=order_gen).tolist():
            idx = torch.stack([train_sets[s][starts[c]: starts[c] + p["batch_size"]] for _, s in jobs])  # [P, B]
            _train_step(model, opt, features[layer_of, idx], targets[idx], weight, drop_gen, p["dropout"])
        last = epoch == p["epochs"]
        eligible = epoch - 1 > p["select_after_epoch"]  # the paper's 0-based `epoch > 25`
        if eligible or last:
            _select(model, features, targets, jobs, splits, val_score, best, epoch, eligible, last)
    return splits, best


def _train_step(model, opt, x, y, weight, drop_gen, dropout: float) -> None:
    """One stacked step: each probe's class-weighted mean cross-entropy (F.cross_entropy's weighting),
    summed over probes, with each probe's own dropout mask."""
    keep = 1 - dropout
    full = torch.full(x.shape[1:], keep)
    masks = torch.stack([torch.bernoulli(full, generator=g) for g in drop_gen]).div_(keep)
    logits = model(x, masks)
    nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)
    w = weight[y]
    loss = ((w * nll).sum(1) / w.sum(1)).sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _select(model, features, targets, jobs, splits, val_score, best, epoch: int, eligible: bool, last: bool) -> None:
    """Score every probe on its validation split; keep (in ``best``) a strictly better eligible epoch's
    test predictions, and the last epoch's where none rose above 0."""
    model.eval()
    with torch.no_grad():
        val_x = torch.stack([features[layer, splits[s][1]] for layer, s in jobs])
        test_x = torch.stack([features[layer, splits[s][2]] for layer, s in jobs])
        val_pred = model(val_x).argmax(-1)
        test_pred = model(test_x).argmax(-1)
    for j, (_, s) in enumerate(jobs):
        score = val_score(val_pred[j].tolist(), targets[splits[s][1]].tolist())
        if eligible and score > best[j][0]:
            best[j] = (score, test_pred[j].tolist(), epoch)
        if last and best[j][1] is None:  # never above 0: the last epoch's probe stays
            best[j] = (score, test_pred[j].tolist(), epoch)
