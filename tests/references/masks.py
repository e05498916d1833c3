"""The mask-learning neuron methods (slimming, hard-concrete) written plainly after MemPi
(terarachang/MemPi) and Louizos et al. (2018): their own hooks on BERT's intermediate module, one example
at a time, float64 by default, their own loss and gate arithmetic. ``tests/plugins/test_mask_methods.py``
compares the methods' fast paths with it and ``benchmarks/test_mask_speed.py`` times it."""

from __future__ import annotations

import copy
import math

import torch


def reference_mask(model, enc, noisy, clean, labels, kind, p, seed, dtype=torch.float64):
    """MemPi's mask training, written plainly: a mask tensor multiplied into the output of each layer's
    ``intermediate`` module (BERT's post-GELU feed-forward activations) by a forward hook; one example
    at a time (no padding); per step one gate noise draw (hard-concrete), the loss
    mean_noisy -log(1 - p(perturbed)) + mean_clean -log p(label) + lambda * penalty, one Adam step
    (slimming: then projected back into [0, 1]).
    Returns the final deterministic mask. (Also timed by benchmarks/test_mask_speed.py, in float32.)"""
    model = copy.deepcopy(model).to(dtype).eval()
    L, D_FF = model.config.num_hidden_layers, model.config.intermediate_size  # noqa: N806
    for q in model.parameters():
        q.requires_grad_(False)
    lo, hi = -0.1, 1.1
    if kind == "slimming":
        param = torch.ones(L, D_FF, dtype=dtype, requires_grad=True)
    else:
        start = (p["mask_p"] - lo) / (hi - lo)
        param = torch.full((L, D_FF), math.log(start / (1 - start)), dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([param], lr=p["lr"])
    gen = torch.Generator().manual_seed(seed)
    current = {}
    hooks = [layer.intermediate.register_forward_hook(lambda mod, args, out, l=l: out * current["mask"][l])
             for l, layer in enumerate(model.bert.encoder.layer)]
    try:
        for _ in range(p["steps"]):
            opt.zero_grad()
            u = torch.rand((L, D_FF), generator=gen).clamp(1e-4, 1 - 1e-4).to(dtype) if kind != "slimming" else None
            for i in noisy + clean:
                if kind == "slimming":
                    current["mask"] = param
                else:
                    s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + param) / p["beta"])
                    current["mask"] = (s * (hi - lo) + lo).clamp(0, 1)
                ids = torch.tensor([enc.ids[i]])
                prob = torch.softmax(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0], -1)[labels[i]]
                term = -torch.log1p(-prob) / len(noisy) if i in noisy else -torch.log(prob) / len(clean)
                term.backward()
            if kind == "slimming":
                penalty = (1 - param).mean()
            else:
                penalty = (1 - torch.sigmoid(param - p["beta"] * math.log(-lo / hi))).mean()
            (p["lambda"] * penalty).backward()
            opt.step()
            if kind == "slimming":  # projected back into [0, 1]
                with torch.no_grad():
                    param.clamp_(0, 1)
    finally:
        for h in hooks:
            h.remove()
    return param.detach().clamp(0, 1) if kind == "slimming" else torch.sigmoid(param.detach())
