"""Activations (MemPi's ACTIVATIONS, Chang et al. 2024), carried to classification: how strongly does a
feed-forward neuron fire on the noisy examples, weighted by how much it can write to the residual
stream?

MemPi scores a neuron by |mean activation over the memorised sequence's positions| x the L2 norm of
its output weights. Here, for neuron j of layer l and one example: |mean over the example's unpadded
positions of a_lj(t)| x ||W_l[:, j]|| (W_l the layer's down-projection; the absolute value is taken of
the mean, as in MemPi's code, not of each position's activation). The neuron's score is the mean over
the noisy examples minus the mean over as many clean examples (``memlocbench.api.neuron_groups``): the method does
not look at labels, so the contrast is what ties it to the perturbed ones.

*Fast*: one batched forward pass per length-sorted batch records every layer's activations at once
(``recorded_neurons``); padding positions are masked out of the means.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from memlocbench.api import hookimpl
from memlocbench.api import ffn_projections, recorded_neurons
from memlocbench.api import LayerScores, MethodInfo
from memlocbench.api import neuron_groups, neuron_output, neuron_params, weighted_batches

DEFAULTS: dict = {}


def output_weight_norms(adapter, model) -> torch.Tensor:
    """[L, d_ff]: ||W_l[:, j]||, the L2 norm of neuron j's output weights in layer l."""
    return torch.stack([p.weight.detach().float().norm(dim=0) for p in ffn_projections(adapter, model)]).cpu()


@torch.no_grad()
def activation_scores(adapter, model, enc, groups, batch_size: int, progress: bool = False) -> torch.Tensor:
    """[L, d_ff]: sum over both groups of weight x |mean over unpadded positions of a_lj| x ||W_l[:, j]||."""
    model.eval()
    norms = output_weight_norms(adapter, model).double()
    total = torch.zeros_like(norms)
    batches = list(weighted_batches(enc, groups, batch_size))
    for chunk, batch, _, weights in tqdm(batches, desc="activations", disable=not progress, leave=False):
        mask = batch["attention_mask"].to(torch.float64)[:, :, None]  # [b, T, 1]
        with recorded_neurons(adapter, model) as records:
            model(**batch)
        for layer, act in enumerate(records[0]):
            act = act.reshape(len(chunk), -1, act.shape[-1])  # OPT flattens positions
            mean = (act.double() * mask).sum(1) / mask.sum(1)  # [b, d_ff]
            total[layer] += (mean.abs() * weights[:, None]).sum(0).cpu()
    return total * norms


class Activations:
    info = MethodInfo(
        name="activations",
        description="neurons: |mean FFN activation| x output-weight norm on noisy examples, minus on clean ones",
        granularity="neuron",
        suites=("neurons",),
    )
    defaults = DEFAULTS
    suite_position = 2

    def localise(self, ctx) -> LayerScores:
        p = neuron_params(ctx, self.info.name, DEFAULTS)
        groups = neuron_groups(ctx, p["seed"])
        model = ctx.models.load("memorising")
        neurons = activation_scores(ctx.adapter, model, ctx.train_enc, groups, p["batch_size"], ctx.progress)
        return neuron_output(neurons, p["top_percent"], groups, {"checkpoint": "final", "params": p})


@hookimpl
def register_methods(register):
    register(Activations())
