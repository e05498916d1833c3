"""Probing the paper's way (Dankers & Titov 2024, section 5; ``probing.probe``,
``FeedForwardClassifier.train_`` and ``get_representations`` of vernadankers/memorisation_localisation):
one probe at a time, one example at a time for the features. Random numbers follow the fast path's
documented seeding (``memlocbench_methods.probing``), so that both draw the same splits, initial
weights, dropout masks and batch orders."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F


class PaperProbe(torch.nn.Module):
    """The paper's ``FeedForwardClassifier``: dropout, d -> 128 -> 128 -> 2 with GELU, LogSoftmax."""

    def __init__(self, d: int, h: int, init: list[torch.Tensor]):
        super().__init__()
        self.in_layer, self.hidden_layer, self.out_layer = (torch.nn.Linear(d, h), torch.nn.Linear(h, h),
                                                            torch.nn.Linear(h, 2))
        with torch.no_grad():  # the fast path's documented initial values (weights stored input-major)
            for lin, (w, b) in zip((self.in_layer, self.hidden_layer, self.out_layer), zip(init[::2], init[1::2])):
                lin.weight.copy_(w.T)
                lin.bias.copy_(b)

    def forward(self, x, mask=None):
        if mask is not None:  # dropout, with the mask drawn outside (the fast path's generator)
            x = x * mask
        x = F.gelu(self.in_layer(x))
        return F.log_softmax(self.out_layer(F.gelu(self.hidden_layer(x))), dim=-1)


def init_values(d: int, h: int, seed: int) -> list[torch.Tensor]:
    """The fast path's seeding (docstring of ``probing``): nn.Linear's default uniform bounds, drawn
    from a generator seeded with 1000 * probe seed + hidden state, weights [in, out] then bias."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for fan_in, fan_out in ((d, h), (h, h), (h, 2)):
        bound = 1 / math.sqrt(fan_in)
        out.append((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound)
        out.append((torch.rand(fan_out, generator=g) * 2 - 1) * bound)
    return out


def f1_noisy(pred: list[int], gold: list[int]) -> float:
    tp = sum(p == g == 1 for p, g in zip(pred, gold))
    fp = sum(p == 1 and g == 0 for p, g in zip(pred, gold))
    fn = sum(p == 0 and g == 1 for p, g in zip(pred, gold))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def paper_probe(features, targets, layer, seed, p) -> dict:
    """``probing.probe`` + ``FeedForwardClassifier.train_``: shuffle, cut at int(0.7 n) and int(0.8 n);
    fixed chunks of 32 whose order is reshuffled every epoch; class-weighted NLL; AdamW; keep the
    state of an epoch with index > 25 (0-based) whose validation F1 beats the best so far (start 0);
    if none ever did, the last epoch's state stays."""
    n = features.shape[1]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()  # the shuffle
    a, b = int(n * 0.7), int(n * 0.8)  # the paper's literals
    train, valid, test = order[:a], order[a:b], order[b:]
    x = features[layer]
    probe = PaperProbe(x.shape[-1], p["hidden"], init_values(x.shape[-1], p["hidden"], 1000 * seed + layer))
    crit = torch.nn.NLLLoss(weight=torch.tensor(p["class_weights"]))
    opt = torch.optim.AdamW(probe.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    drop = torch.Generator().manual_seed(7919 * seed + layer)
    chunk_order = torch.Generator().manual_seed(p["chunk_order_seed"])
    keep = 1 - p["dropout"]
    starts = list(range(0, len(train), p["batch_size"]))
    best_f1, best_sd, best_epoch = 0.0, None, None

    def predict(idx):
        probe.eval()
        with torch.no_grad():
            return probe(x[idx]).argmax(-1).tolist()

    for epoch in range(p["epochs"]):  # 0-based, as the paper's loop
        probe.train()
        for c in torch.randperm(len(starts), generator=chunk_order).tolist():
            idx = train[starts[c] : starts[c] + p["batch_size"]]
            mask = torch.bernoulli(torch.full((len(idx), x.shape[-1]), keep), generator=drop) / keep
            loss = crit(probe(x[idx], mask), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        f1 = f1_noisy(predict(valid), targets[valid].tolist())
        if epoch > p["select_after_epoch"] and f1 > best_f1:
            best_sd, best_f1, best_epoch = copy.deepcopy(probe.state_dict()), f1, epoch + 1
    if best_f1 != 0:
        probe.load_state_dict(best_sd)
    else:
        best_epoch = p["epochs"]
    gold = targets[test].tolist()
    return {"test_f1": f1_noisy(predict(test), gold), "selected_epoch": best_epoch,
            "n_train": len(train), "n_val": len(valid), "n_test": len(test)}


def paper_features(model, enc) -> torch.Tensor:
    """``get_representations``: one example at a time, every hidden state, the first token (BERT)."""
    model.eval()
    with torch.no_grad():
        per = [model(**enc.batch([i]), output_hidden_states=True).hidden_states for i in range(len(enc.ids))]
    return torch.stack([torch.stack([hs[k][0, 0] for hs in per]) for k in range(len(per[0]))])
