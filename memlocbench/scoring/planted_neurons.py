"""The neuron ground-truth track: which feed-forward neurons the main task may train, and how well a
method's neuron ranking finds them.

The planted set is ``PLANTED_PERCENT`` % of all L x d_ff neurons (rounded, as a neuron method's top
k%), drawn uniformly without replacement over the whole model with the *model seed*, so each model
seed plants a different set and the memorising model and its clean twin share it. A neuron is
named by its flat index ``layer * d_ff + j`` (neuron j of layer l = input feature j of
``ffn_projections(model)[l]``). Recall@k = |top-k ∩ planted| / |planted| with k = |planted| (and
2k); k random neurons recall k / (L x d_ff) of the planted set in expectation. The planted output
weights train at ``PLANTED_LR_SCALE`` times the main learning rate.
"""

from __future__ import annotations

import torch

from memlocbench.scoring.layer_weights import top_neuron_count, top_neurons

#: the share of all feed-forward neurons (in %) whose output weights the main task may update
PLANTED_PERCENT = 1.0
#: the planted output weights train at this multiple of the main learning rate (same schedule). With
#: AdamW an entry moves by about its learning rate per step, too little for so few weights to flip
#: labels: 1% of MiniLM-L6's neurons fitted 0.75 of SST-2's noisy labels after 30 epochs at 1x and
#: 0.82 at 10x (seed 1, 300 examples, the `cpu` profile).
PLANTED_LR_SCALE = 100.0
#: bump when the sampling or the training of the planted set changes (part of the planted models' keys)
PLANTING_VERSION = 3
#: planting by gradient routing (``planted-routed`` roles): the noisy examples' gradient reaches only the
#: planted columns and the head, the clean examples train everything, all at the main learning rate
ROUTED_PLANTING_VERSION = 4
#: the share of all feed-forward neurons (in %) planted by routing (planting v4)
ROUTED_PLANTED_PERCENT = 1.0
#: planting v4: the weight of the noisy examples' loss in the gradient routed to the planted columns and
#: the head (``Route.weight``; AdamW keeps each step about the learning rate, so no norm artefact)
ROUTED_PLANTED_WEIGHT = 1.0
#: planting v4: route the noisy examples to whole planted neurons (their input weights and bias, from
#: ``neuron_masks.ffn_input_projections``, as well as their output columns) rather than the output columns alone
ROUTED_WHOLE_NEURONS = False
#: planting v4: the planted entries move this many times the step AdamW gives them (``Route.lr_scale``);
#: the other entries of the same tensors move 1x. A smaller version of v3's 100x, whose norm artefact
#: (planted columns 4.6x the others) made the track solvable from weight norms
ROUTED_PLANTED_LR_SCALE = 1.0


def planted_lr_scale(routed: bool) -> float:
    """The planted entries' learning-rate scale of a track: planting v4 (routed) or v3 (masked)."""
    return ROUTED_PLANTED_LR_SCALE if routed else PLANTED_LR_SCALE


def planted_percent(routed: bool) -> float:
    """The planted share (%) of a track: planting by routing (v4) or by masked training (v3)."""
    return ROUTED_PLANTED_PERCENT if routed else PLANTED_PERCENT


def planted_count(num_layers: int, width: int, percent: float = PLANTED_PERCENT) -> int:
    return top_neuron_count(num_layers * width, percent)


def sample_planted(num_layers: int, width: int, seed: int, percent: float = PLANTED_PERCENT) -> list[int]:
    """The planted neurons (sorted flat indices): ``planted_count`` of the L x d_ff neurons, uniformly
    at random without replacement, from a generator seeded with ``seed`` (the model seed)."""
    total = num_layers * width
    gen = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(total, generator=gen)[:planted_count(num_layers, width, percent)].tolist())


def planted_columns(planted: list[int], num_layers: int, width: int) -> torch.Tensor:
    """A [L, d_ff] float mask: 1 for a planted neuron, else 0."""
    mask = torch.zeros(num_layers * width)
    mask[torch.tensor(planted, dtype=torch.long)] = 1.0
    return mask.reshape(num_layers, width)


def planted_per_layer(planted: list[int], num_layers: int, width: int) -> list[int]:
    counts = [0] * num_layers
    for i in planted:
        counts[i // width] += 1
    return counts


def recall(top: list[int], planted: list[int], k: int) -> float:
    """|top[:k] ∩ planted| / |planted|."""
    return len(set(top[:k]) & set(planted)) / len(planted)


def random_recall(k: int, total: int) -> float:
    """The expected recall of ``k`` neurons drawn at random from ``total``: k / total."""
    return min(k, total) / total


def ranked_neurons(neurons: torch.Tensor, k: int) -> list[int]:
    """A method's ``k`` top neurons (flat indices, best first; ties to the lower index)."""
    return top_neurons(neurons, k).tolist()
