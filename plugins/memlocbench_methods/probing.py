"""Probing (Dankers & Titov 2024, section 4): from which layer on can a small classifier tell the
noisy examples from the clean ones?

From every hidden state of the memorising model (embeddings plus each layer: L+1 of them) we take
the sentence representation and train an MLP probe (dropout 0.1, two hidden layers of 128 with
GELU, as in the paper's code) to predict noisy vs clean: class-weighted NLL loss (weights 0.33 / 0.67
as in the paper's code), a seeded 70/10/20 split (sizes int(0.7 n) and int(0.8 n) - int(0.7 n), as
the paper's code), AdamW (lr 2e-4, weight decay 1e-5), 100 epochs over fixed chunks of 32 training
examples whose order is reshuffled every epoch (the paper's code), keeping the probe of the epoch with
the best validation F1 among epochs 26..99 (0-based, as the paper's ``epoch > 25``), a later epoch
only if strictly better, and, when validation F1 never rises above 0, the last epoch's probe (the
paper's code keeps it then). We report the test F1 of the noisy class, averaged over probe seeds 0..4. A layer's weight is max(0, F1 at that layer - F1 at the
layer below), the layer below layer 1 being the embeddings.

Speed: all hidden states come from one batched forward pass (no gradients), and the (L+1) x seeds
probes are trained together as one stacked model: each probe keeps its own initialisation, dropout
generator, split and batch order, and AdamW is element-wise, so every probe follows exactly the
path it would follow alone (``train_probes`` with one probe at a time is the reference).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from memlocbench.api import hookimpl
from memlocbench.api import f1_per_class
from memlocbench.api import LayerScores, MethodInfo

DEFAULTS = {"hidden": 128, "dropout": 0.1, "epochs": 100, "select_after_epoch": 25, "batch_size": 32,
            "learning_rate": 2e-4, "weight_decay": 1e-5, "seeds": [0, 1, 2, 3, 4], "class_weights": [0.33, 0.67],
            "split": [0.7, 0.1, 0.2], "feature_batch_size": 64, "chunk_order_seed": 0}


@torch.no_grad()
def sentence_features(adapter, model, enc, batch_size) -> torch.Tensor:
    """[L+1, N, d]: the sentence representation at every hidden state, for every example."""
    model.eval()
    out = None
    for chunk, batch in enc.eval_batches(list(range(len(enc.ids))), batch_size):
        hs = model(**batch, output_hidden_states=True).hidden_states
        reps = torch.stack([adapter.sentence_representation(h, batch["attention_mask"]) for h in hs])
        if out is None:
            out = torch.zeros(reps.shape[0], len(enc.ids), reps.shape[-1])
        out[:, chunk] = reps.float().cpu()  # the probes train on the CPU: they are small
    return out


def split_indices(n: int, seed: int, fractions) -> tuple[list[int], list[int], list[int]]:
    """A seeded shuffle cut as the paper's code: the first int(f0 n) train, up to int((f0 + f1) n) validation."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    a = int(fractions[0] * n)
    b = int(round(fractions[0] + fractions[1], 12) * n)  # 0.7 + 0.1 is 0.7999... in floats; the paper writes 0.8
    return order[:a], order[a:b], order[b:]


class _StackedMLP(torch.nn.Module):
    """P independent MLPs d -> h -> h -> 2 evaluated in one batched pass."""

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


def _init(d: int, h: int, seed: int, num_classes: int = 2) -> list[torch.Tensor]:
    """nn.Linear's default initialisation, drawn from the probe's own generator."""
    g = torch.Generator().manual_seed(seed)
    ws = []
    for fan_in, fan_out in ((d, h), (h, h), (h, num_classes)):
        bound = 1 / math.sqrt(fan_in)
        ws.append((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound)
        ws.append((torch.rand(fan_out, generator=g) * 2 - 1) * bound)
    return ws


def noisy_class_f1(pred: list[int], gold: list[int]) -> float:
    return f1_per_class(pred, gold, 1)


def fit_probes(features: torch.Tensor, targets: torch.Tensor, jobs: list[tuple[int, int]], p: dict,
               num_classes: int = 2, class_weights: list[float] | None = None, val_score=noisy_class_f1,
               ) -> tuple[dict[int, tuple[list[int], list[int], list[int]]], list[tuple[float, list[int], int]]]:
    """The stacked-probe engine: one probe per (hidden-state index, seed) job, all trained together on
    ``targets`` (``num_classes`` classes; class-weighted loss with ``class_weights``, else uniform).
    Returns the seeded splits per seed (train, validation, test indices) and, per job, the best
    validation score after ``select_after_epoch`` (the last epoch's if none rose above 0), that
    epoch's test predictions and the epoch."""
    d = features.shape[-1]
    n = features.shape[1]
    splits = {s: split_indices(n, s, p["split"]) for s in {s for _, s in jobs}}
    model = _StackedMLP([_init(d, p["hidden"], 1000 * s + layer, num_classes) for layer, s in jobs])
    opt = torch.optim.AdamW(model.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"], fused=True)
    weight = torch.tensor(class_weights) if class_weights is not None else torch.ones(num_classes)
    layer_of = torch.tensor([layer for layer, _ in jobs]).unsqueeze(1)  # [P, 1]
    drop_gen = [torch.Generator().manual_seed(7919 * s + layer) for layer, s in jobs]
    # fixed chunks of the (shuffled) training split; their order is reshuffled every epoch, one
    # order for all probes, so that chunks of equal size meet in every stacked step
    train_sets = {s: torch.tensor(splits[s][0]) for s in splits}
    n_train = len(next(iter(train_sets.values())))
    starts = list(range(0, n_train, p["batch_size"]))
    order_gen = torch.Generator().manual_seed(p["chunk_order_seed"])
    best = [(0.0, None, None) for _ in jobs]  # (val score, test predictions, epoch), the paper's start
    keep = 1 - p["dropout"]
    for epoch in range(1, p["epochs"] + 1):
        model.train()
        for c in torch.randperm(len(starts), generator=order_gen).tolist():
            k = starts[c]
            idx = torch.stack([train_sets[s][k : k + p["batch_size"]] for _, s in jobs])  # [P, B]
            x = features[layer_of, idx]
            full = torch.full(x.shape[1:], keep)
            masks = torch.stack([torch.bernoulli(full, generator=g) for g in drop_gen]).div_(keep)
            logits = model(x, masks)
            y = targets[idx]
            # each probe's class-weighted mean cross-entropy (F.cross_entropy's weighting), summed over probes
            nll = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)
            w = weight[y]
            loss = ((w * nll).sum(1) / w.sum(1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        last = epoch == p["epochs"]
        eligible = epoch - 1 > p["select_after_epoch"]  # the paper's 0-based `epoch > 25`
        if eligible or last:
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
    return splits, best


def train_probes(features: torch.Tensor, targets: torch.Tensor, jobs: list[tuple[int, int]], p: dict) -> list[dict]:
    """Train one noisy-vs-clean probe per (hidden-state index, seed) job, all stacked; returns per-job results."""
    splits, best = fit_probes(features, targets, jobs, p, 2, p["class_weights"], noisy_class_f1)
    results = []
    for j, (layer, s) in enumerate(jobs):
        test_idx = splits[s][2]
        gold = targets[test_idx].tolist()
        results.append({"hidden_state": layer, "seed": s, "val_f1": best[j][0], "selected_epoch": best[j][2],
                        "test_f1": f1_per_class(best[j][1], gold, 1),
                        "n_train": len(splits[s][0]), "n_val": len(splits[s][1]), "n_test": len(test_idx),
                        "n_test_noisy": int(sum(gold)), "n_test_predicted_noisy": int(sum(best[j][1]))})
    return results


def weights_from_f1(f1: list[float]) -> list[float]:
    """f1[0] is the embeddings, f1[l] layer l (1..L): weight_l = max(0, f1[l] - f1[l-1])."""
    return [max(0.0, f1[l] - f1[l - 1]) for l in range(1, len(f1))]


class Probing:
    info = MethodInfo(
        name="probing",
        description="MLP probes on every hidden state tell noisy from clean examples; weight = gain in F1 per layer",
        version=2,  # 2: int() splits, fixed chunks reshuffled per epoch, the paper's selection rule
    )

    def localise(self, ctx) -> LayerScores:
        p = ctx.params(self.info.name, DEFAULTS)
        model = ctx.models.load("memorising")
        feats = sentence_features(ctx.adapter, model, ctx.train_enc, p["feature_batch_size"])
        targets = torch.zeros(feats.shape[1], dtype=torch.long)
        targets[ctx.dataset.noisy_idx] = 1
        jobs = [(layer, s) for s in p["seeds"] for layer in range(feats.shape[0])]
        runs = train_probes(feats, targets, jobs, p)
        f1 = [sum(r["test_f1"] for r in runs if r["hidden_state"] == h) / len(p["seeds"]) for h in range(feats.shape[0])]
        return LayerScores(raw=weights_from_f1(f1), details={"f1_per_hidden_state": f1, "probes": runs, "params": p})


@hookimpl
def register_methods(register):
    register(Probing())
