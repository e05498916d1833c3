"""What neuron-level localisation methods share: the examples they score, the memorised objective, the
forward pass from one layer with a per-row neuron scale, and the step from a neuron tensor to a method's
output.

Groups and objective (MemPi, Chang et al. 2024, scores one memorised sequence's loss; carried to
classification): the memorising model's final weights in eval mode; the *noisy* training examples,
whose target is their perturbed label, and as many *clean* training examples (the seeded sample
``clean_sample`` with the model seed, as layer methods contrast with), whose target is their label. A
method computes one number per neuron and example on the target's log-probability log p(target | x)
and scores a neuron by (mean over the noisy examples) - (mean over the clean ones): high = the neuron
carries the perturbed labels more than it carries ordinary fitting.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from memlocbench.contracts.protocols import LayerScores
from memlocbench.data.clean_sample import clean_sample
from memlocbench.errors import InvalidInputError
from memlocbench.models.neuron_masks import ffn_projections, scaled_neurons
from memlocbench.models.partial_forward import logits_from
from memlocbench.scoring.layer_weights import neuron_layer_shares, top_neuron_count

#: the parameters every neuron method has (besides its own)
NEURON_METHOD_DEFAULTS = {"top_percent": 1.0, "batch_size": 16, "seed": None}


@dataclass(frozen=True)
class NeuronGroups:
    noisy: list[int]
    clean: list[int]
    targets: list[int]  # per training index: the label the memorising model was trained on

    def weight(self, i: int) -> float:
        """+1/|noisy| for a noisy example, -1/|clean| for a clean one: summing weight x value over both
        groups gives (noisy mean) - (clean mean)."""
        return 1.0 / len(self.noisy) if i in self.noisy else -1.0 / len(self.clean)

    def sizes(self) -> dict[str, int]:
        return {"n_noisy": len(self.noisy), "n_clean": len(self.clean)}


def neuron_params(ctx, method: str, defaults: dict, at_least_one: tuple[str, ...] = ()) -> dict:
    """The method's parameters (``NEURON_METHOD_DEFAULTS`` and its own), checked before any work: ``top_percent``
    in (0, 100], ``batch_size`` and the ``at_least_one`` parameters >= 1."""
    p = ctx.params(method, {**NEURON_METHOD_DEFAULTS, **defaults})
    top_neuron_count(1, p["top_percent"])  # raises InvalidInputError outside (0, 100]
    for name in ("batch_size", *at_least_one):
        if p[name] < 1:
            raise InvalidInputError(f"method {method!r}: parameter {name} must be at least 1, got {p[name]}")
    return p


def neuron_groups(ctx, seed: int | None, n_noisy: int = 0) -> NeuronGroups:
    """The noisy examples (all, or with ``n_noisy`` > 0 a seeded sample of that many) and a seeded
    sample of as many clean ones. ``seed`` None = the model seed."""
    d = ctx.dataset
    seed = ctx.config.train.seed if seed is None else seed
    noisy = sorted(d.noisy_idx)
    if 0 < n_noisy < len(noisy):
        noisy = sorted(random.Random(seed).sample(noisy, n_noisy))
    return NeuronGroups(noisy, clean_sample(d.clean_idx, len(noisy), seed), list(d.noisy_labels))


def weighted_batches(enc, groups: NeuronGroups, batch_size: int) -> Iterator[tuple[list[int], dict, torch.Tensor,
                                                                                       torch.Tensor]]:
    """Length-sorted batches over both groups: (indices, batch, targets [b], weights [b])."""
    both = sorted(set(groups.noisy) | set(groups.clean))
    if len(both) != len(groups.noisy) + len(groups.clean):
        raise ValueError("the noisy and clean groups overlap")
    for chunk, batch in enc.eval_batches(both, batch_size):
        device = batch["input_ids"].device
        yield (chunk, batch, torch.tensor([groups.targets[i] for i in chunk], device=device),
               torch.tensor([groups.weight(i) for i in chunk], dtype=torch.float64, device=device))


def target_log_probs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target | x) per row, in float64: for a model that fits its examples, log p is close to 0 and
    the effects the methods measure are small differences of it (float32 would round them away)."""
    return F.log_softmax(logits.double(), dim=-1).gather(1, targets[:, None]).squeeze(1)


def log_probs_from_layer(adapter, model, batch: dict, start: int, hidden: torch.Tensor,
                         targets: torch.Tensor) -> torch.Tensor:
    """log p(target) [R*b] when layer ``start`` receives ``hidden`` ([R*b, T, d], R blocks of the batch's
    b rows; ``start`` = L: only the head runs): the batch and its targets repeated R times."""
    repeats = hidden.shape[0] // len(targets)
    rep = {k: v.repeat(repeats, *([1] * (v.ndim - 1))) for k, v in batch.items()}
    return target_log_probs(logits_from(adapter, model, rep, start, hidden), targets.repeat(repeats))


def log_probs_with_scaled_layer(adapter, model, batch: dict, hidden: torch.Tensor, layer: int,
                                scale: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The batch repeated R = len(scale) / b times (b = its rows), run from ``layer`` on its cached input
    ``hidden`` ([b, T, d]) with layer ``layer``'s neurons multiplied by ``scale`` ([R*b, 1, d_ff]: row
    r*b + i is example i under the r-th scale); the other layers untouched. Returns log p(target) [R*b]."""
    repeats = scale.shape[0] // hidden.shape[0]
    scales = [None] * len(ffn_projections(adapter, model))
    scales[layer] = scale
    with scaled_neurons(adapter, model, scales):
        return log_probs_from_layer(adapter, model, batch, layer, hidden.repeat(repeats, 1, 1), targets)


def neuron_output(neurons: torch.Tensor, top_percent: float, groups: NeuronGroups, details: dict) -> LayerScores:
    """LayerScores of a neuron method: raw = each layer's share of the top ``top_percent`` % neurons."""
    neurons = neurons.detach().float().cpu()
    L, width = neurons.shape
    return LayerScores(raw=neuron_layer_shares(neurons, top_percent), neurons=neurons, details={
        "top_percent": top_percent,
        "top_neurons": top_neuron_count(L * width, top_percent),
        "d_ff": width,
        "contrast": "mean over noisy examples (perturbed label) - mean over as many clean examples (their label)",
        "layer_mean_score": [float(x) for x in neurons.mean(1)],
        "layer_max_score": [float(x) for x in neurons.max(1).values],
        **groups.sizes(),
        "scored": {"noisy": list(groups.noisy), "clean": list(groups.clean)},
        **details,
    })
