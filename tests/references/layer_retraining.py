"""Layer retraining the paper's way (Dankers & Titov 2024, section 4; ``layer_retraining.main`` and
``get_heatmap_and_averages(retraining=True)`` of vernadankers/memorisation_localisation): every window
configuration retrained on a whole network, forward and backward, with the paper's training loop; the
fast path (``memlocbench_methods.layer_retraining``) caches the inputs of the window's first layer.
The model is a BERT (parameter names ``bert.encoder.layer.<i>.``)."""

from __future__ import annotations

import copy
import math
import re

import torch
import torch.nn.functional as F
from transformers import get_linear_schedule_with_warmup

_LAYER = re.compile(r"^bert\.encoder\.layer\.(\d+)\.")


def _layer_of(name: str) -> int | None:
    """The 0-based layer of a BERT parameter name, None outside the encoder layers."""
    m = _LAYER.match(name)
    return int(m.group(1)) if m else None


def paper_windows(n: int) -> list[tuple[int, ...]]:
    """The paper's retrain configurations: sorted(set(tuple(range(i, min(i + k, n))))) over sizes and starts."""
    return sorted({tuple(range(i, min(i + k, n))) for k in range(1, n + 1) for i in range(n)})


def paper_heatmap_weights(acc_noisy: dict[tuple[int, ...], float], n: int) -> list[float]:
    """``get_heatmap_and_averages(retraining=True)``: normalise by the all-layer run, collect per
    (window size, layer), heat map = 1 - mean, weight = the column mean."""
    full = acc_noisy[tuple(range(n))]
    cells: dict[tuple[int, int], list[float]] = {}
    for window, acc in acc_noisy.items():
        for layer in window:
            cells.setdefault((len(window), layer), []).append((acc - full) / (1 - full))
    heat = [[1 - sum(cells[(k, j)]) / len(cells[(k, j)]) for j in range(n)] for k in range(1, n + 1)]
    return [sum(heat[k][j] for k in range(n)) / n for j in range(n)]


def paper_retrain(pretrained, memorising, window, enc, labels, train_idx, eval_sets, p, seed):
    """One retraining run of the paper's ``layer_retraining.main``: a pretrained model with the
    memorising state dict loaded except the window's layers; everything but the window and the head
    frozen; the training loop of ``main.train`` (AdamW, linear schedule with 10% warm-up, clipping at
    1.0, whole-network forward and backward passes); accuracies on the evaluation sets.
    Taking the fast path's side (README "Deviations"): BERT's pooler trains with the head (the
    paper's code froze it) and clipping covers the optimised parameters only. The batch order is the
    fast path's seeded permutation per epoch (the paper's DataLoader(shuffle=True) draws one from the
    global generator)."""
    model = copy.deepcopy(pretrained)
    kept = {k: v for k, v in memorising.state_dict().items() if _layer_of(k) not in window}
    model.load_state_dict(kept, strict=False)
    trainable = [prm for n, prm in model.named_parameters()
                 if n.startswith(("classifier.", "bert.pooler.")) or _layer_of(n) in window]
    opt = torch.optim.AdamW(trainable, lr=p["learning_rate"], weight_decay=p["weight_decay"])
    n_batches = math.ceil(len(train_idx) / p["batch_size"])
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * n_batches * p["epochs"]), n_batches * p["epochs"])
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    for _ in range(p["epochs"]):
        perm = torch.randperm(len(train_idx), generator=gen).tolist()
        order = [train_idx[i] for i in perm]
        for k in range(0, len(order), p["batch_size"]):
            chunk = order[k : k + p["batch_size"]]
            model.train()
            loss = F.cross_entropy(model(**enc.batch(chunk)).logits, torch.tensor([labels[i] for i in chunk]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            sched.step()
            model.zero_grad()
    model.eval()
    out = {}
    with torch.no_grad():
        for name, idx in eval_sets.items():
            pred = [int(model(**enc.batch([i])).logits.argmax(-1)) for i in idx]
            out[name] = sum(int(a == labels[i]) for a, i in zip(pred, idx)) / len(idx)
    return out
