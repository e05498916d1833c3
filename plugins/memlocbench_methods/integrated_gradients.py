"""Integrated gradients (MemPi's IG, the knowledge-neurons recipe of Dai et al. 2022 as implemented by
EleutherAI and used by Chang et al. 2024), carried to classification.

Knowledge neurons scale one layer's whole activation vector from 0 to its value in ``steps`` steps
(``torch.linspace(0, 1, steps)``, both ends included), take the gradient of the target's
probability at each step and attribute activation x mean gradient to each neuron. Here the target
is the log-probability of the label the model was trained on (the perturbed label for a noisy
example), the input of the classifier is the whole sequence, so layer l's activations are scaled at
all positions together, and neuron j's attribution is
    sum over positions t of a_lj(t) x (1/steps) sum_k d log p(target) / d a_lj(t) at alpha_k a_l.
The other layers keep computing as usual from what they receive. The neuron's score is the mean
attribution over the noisy examples minus that over as many clean ones (``memlocbench.api.neuron_groups``).

*Fast*: the scale alpha_k is a per-row, per-neuron factor broadcast over positions, so the gradient
with respect to it is exactly sum_t a(t) x grad(t), for every neuron of the layer at once; all
``steps`` scales of a batch of examples are one batch (rows = steps x examples), run from layer l on
its input computed once; noisy and clean examples share the batch with weights +1/n and -1/n, so one
backward pass per batch and layer gives the contrast.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from memlocbench.api import hookimpl
from memlocbench.api import ffn_projections
from memlocbench.api import LayerScores, MethodInfo
from memlocbench.api import (log_probs_with_scaled_layer, neuron_groups, neuron_output, neuron_params,
                             weighted_batches)
from memlocbench_methods import minimum_checks

DEFAULTS = {"steps": 20}


def ig_attributions(adapter, model, enc, groups, steps: int, batch_size: int, progress: bool = False) -> torch.Tensor:
    """[L, d_ff]: sum over both groups of weight x integrated-gradients attribution of log p(target)."""
    model.eval()
    projections = ffn_projections(adapter, model)
    L, width = len(projections), projections[0].in_features
    scores = torch.zeros(L, width, dtype=torch.float64)
    batches = list(weighted_batches(enc, groups, batch_size))
    bar = tqdm(total=len(batches) * L, desc="integrated gradients", disable=not progress, leave=False)
    for chunk, batch, targets, weights in batches:
        b = len(chunk)
        with torch.no_grad():
            hidden_states = model(**batch, output_hidden_states=True).hidden_states
        for layer in range(L):
            hidden = hidden_states[layer]
            alphas = torch.linspace(0, 1, steps, device=hidden.device, dtype=hidden.dtype)
            scale = alphas.repeat_interleave(b)[:, None, None].expand(steps * b, 1, width).clone().requires_grad_(True)
            with torch.enable_grad():
                log_p = log_probs_with_scaled_layer(adapter, model, batch, hidden, layer, scale, targets)
                (grad,) = torch.autograd.grad((log_p.double() * weights.repeat(steps)).sum() / steps, scale)
            scores[layer] += grad.sum((0, 1)).double().cpu()
            bar.update()
    bar.close()
    return scores


class IntegratedGradients:
    info = MethodInfo(
        name="integrated-gradients",
        description="neurons: knowledge-neuron integrated gradients of the perturbed-label log-prob (noisy - clean)",
        granularity="neuron",
        suites=("neurons",),
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"steps": 1})
    suite_position = 3

    def localise(self, ctx) -> LayerScores:
        p = neuron_params(ctx, self.info.name, DEFAULTS, at_least_one=("steps",))
        groups = neuron_groups(ctx, p["seed"])
        model = ctx.models.load("memorising")
        neurons = ig_attributions(ctx.adapter, model, ctx.train_enc, groups, p["steps"], p["batch_size"],
                                  ctx.progress)
        return neuron_output(neurons, p["top_percent"], groups, {"checkpoint": "final", "params": p})


@hookimpl
def register_methods(register):
    register(IntegratedGradients())
