"""Gradient attribution (Dankers & Titov 2024, section 4): which layers' parameters would have to
move most to forget the noisy examples, relative to clean ones?

On the memorising model's first-fit checkpoint (the paper's "memorised" checkpoint; the final one
if the training set was never fitted) we take, for every noisy example and for an equally large
seeded random set of clean examples, the gradient of the label's raw logit (the paper's code applies
its negative-log-likelihood loss to raw logits, so its negated loss is exactly that logit), and
average each group. A layer's score is the L1 norm, over the layer's parameters, of
(noisy mean gradient - clean mean gradient), divided by the same quantity computed on the
classifier-only model (all layers frozen during training), then normalised to sum to 1. In the
control setup the normaliser is the control recipe with no main layers (role ``control-none``: every
layer frozen for the main task but trained by the auxiliary task), as in the paper's code; the
pipeline maps the role ``classifier-only`` to it there.

Speed: a mean of per-example gradients is the gradient of the mean, because examples do not
interact in an eval-mode forward pass, and only the difference of the two means is ever used. So
one batched backward pass per batch of noisy and clean examples together (weighted +1/n and -1/n)
gives it, instead of one pass per example. The plain reference (one backward pass per example) is in
the tests (``tests/references/gradient_attribution.py``).
"""

from __future__ import annotations

import torch

from memlocbench.api import hookimpl
from memlocbench.api import LayerScores, MethodInfo
from memlocbench.api import clean_sample, set_trainable
from memlocbench_methods import minimum_checks

DEFAULTS = {"batch_size": 32, "seed": None}


def _layer_params(adapter, model) -> dict[str, int]:
    return {n: g for n, _ in model.named_parameters() if isinstance(g := adapter.parameter_group(n), int)}


def gradient_difference(adapter, model, enc, noisy, clean, labels, batch_size) -> dict[str, torch.Tensor]:
    """mean over ``noisy`` minus mean over ``clean`` of d logit[label] / d theta, for every per-layer
    parameter, in one batched pass: the gradient of sum_i w_i logit_i[label_i] with w = 1/|noisy| for
    noisy and -1/|clean| for clean examples (the two groups are batched together by length)."""
    model.eval()
    names = list(_layer_params(adapter, model))
    params = set_trainable(model, names)
    weight = {i: 1.0 / len(noisy) for i in noisy}
    weight.update({i: -1.0 / len(clean) for i in clean})
    if len(weight) != len(noisy) + len(clean):
        raise ValueError("the noisy and clean groups overlap")
    total = [torch.zeros_like(p) for p in params]
    for chunk, batch in enc.eval_batches(list(weight), batch_size):
        logits = model(**batch).logits
        device = logits.device
        picked = logits[torch.arange(len(chunk), device=device), torch.tensor([labels[i] for i in chunk], device=device)]
        grads = torch.autograd.grad((picked * torch.tensor([weight[i] for i in chunk], device=device)).sum(), params)
        for t, g in zip(total, grads):
            t += g
    return dict(zip(names, total))


def layer_l1(adapter, model, difference, num_layers) -> list[float]:
    """Per layer, the L1 norm of the (noisy - clean) mean gradient over the layer's parameters."""
    groups = _layer_params(adapter, model)
    score = [0.0] * num_layers
    for n, g in difference.items():
        score[groups[n]] += float(g.abs().sum())
    return score


class GradientAttribution:
    info = MethodInfo(
        name="gradient-attribution",
        description="L1 norm per layer of (noisy - clean) mean logit gradients, relative to a classifier-only model",
        version=2,  # 2: control normaliser = the control recipe with no main layers; clean sample as the paper
        extra_models=("classifier-only",),
        suites=("paper",),
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"batch_size": 1})
    suite_position = 3
    # seconds per row: CPU, MiniLM-L6 (README: 13 s / 600 rows); GPU, 12 layers: two models, forward + backward
    default_rates = {"cpu": 0.022, "cuda": 0.01}

    def localise(self, ctx) -> LayerScores:
        p = ctx.params(self.info.name, DEFAULTS)
        seed = ctx.config.train.seed if p["seed"] is None else p["seed"]
        d = ctx.dataset
        noisy = list(d.noisy_idx)
        clean = clean_sample(d.clean_idx, len(noisy), seed)
        per_model = {}
        for role, checkpoint in (("memorising", "first_fit"), ("classifier-only", "final")):
            model = ctx.models.load(role, checkpoint)
            diff = gradient_difference(ctx.adapter, model, ctx.train_enc, noisy, clean, d.noisy_labels,
                                       p["batch_size"])
            per_model[role] = layer_l1(ctx.adapter, model, diff, ctx.num_layers)
        raw = [m / c if c > 0 else 0.0 for m, c in zip(per_model["memorising"], per_model["classifier-only"])]
        meta = ctx.models.meta("memorising")
        return LayerScores(raw=raw, details={
            "l1_memorising": per_model["memorising"],
            "l1_classifier_only": per_model["classifier-only"],
            "checkpoint": "first_fit" if meta["first_fit_epoch"] is not None else "final (never fitted)",
            "first_fit_epoch": meta["first_fit_epoch"],
            "normaliser_role": ctx.models.resolve("classifier-only"),
            "n_noisy": len(noisy), "n_clean": len(clean), "params": p,
        })


@hookimpl
def register_methods(register):
    register(GradientAttribution())
