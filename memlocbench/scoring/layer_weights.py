"""From per-window or per-layer measurements to a normalised layer profile and its M-CoG.

Layers are 0-based in code and numbered 1..L in reports; the memorisation centre of gravity is
M-CoG = sum_l (l + 1) * w_l for a profile w that sums to 1 (the paper's code uses 0-based
numbers and adds 1 in its figures; the issue asks for 1..L, so M-CoG here = paper's CoG + 1).
"""

from __future__ import annotations

import math
from typing import Mapping

from memlocbench.errors import InvalidInputError

Window = tuple[int, int]  # (first layer, last layer), inclusive, 0-based


def windows(num_layers: int) -> list[Window]:
    """All L(L+1)/2 windows of consecutive layers, by start then end."""
    if num_layers < 1:
        raise ValueError("a model needs at least one layer")
    return [(s, e) for s in range(num_layers) for e in range(s, num_layers)]


def window_key(w: Window) -> str:
    return f"{w[0]}-{w[1]}"


def layer_weights_from_windows(num_layers: int, error: Mapping[Window, float]) -> list[float]:
    """A layer's weight: the mean, over window sizes, of the mean error of the windows of that
    size that contain the layer (the paper's heat-map column mean)."""
    missing = [w for w in windows(num_layers) if w not in error]
    if missing:
        raise ValueError(f"missing windows: {missing[:5]}")
    weights = []
    for layer in range(num_layers):
        per_size = []
        for size in range(1, num_layers + 1):
            errs = [error[(s, s + size - 1)] for s in range(num_layers - size + 1) if s <= layer <= s + size - 1]
            per_size.append(sum(errs) / len(errs))
        weights.append(sum(per_size) / len(per_size))
    return weights


def normalise(raw: list[float]) -> list[float]:
    """Scale non-negative weights to sum to 1. An all-zero profile (no layer carries any signal)
    has no centre of gravity; it is returned as uniform, and callers record the fact."""
    if any(math.isnan(x) or x < 0 for x in raw):
        raise ValueError(f"layer weights must be non-negative numbers, got {raw}")
    total = sum(raw)
    if total == 0:
        return [1.0 / len(raw)] * len(raw)
    return [x / total for x in raw]


def mcog(profile: list[float]) -> float:
    """Centre of gravity with layers numbered 1..L."""
    return sum((i + 1) * w for i, w in enumerate(profile))


def mcog_bounds(num_layers: int, aggregation: str = "layers") -> tuple[float, float]:
    """The smallest and largest M-CoG a method's aggregation gives on ``num_layers`` layers: the M-CoG
    of memorisation held entirely by the first layer and entirely by the last. ``"layers"`` (one score
    per layer): 1 and L. ``"windows"`` (``layer_weights_from_windows``): every window that contains the
    layer has error 1, every other window 0; 2.54 and 4.46 on 6 layers."""
    if aggregation == "layers":
        if num_layers < 1:
            raise ValueError("a model needs at least one layer")
        return 1.0, float(num_layers)
    if aggregation != "windows":
        raise ValueError(f"unknown aggregation {aggregation!r}; valid: 'layers', 'windows'")

    def held_by(layer: int) -> float:
        error = {w: 1.0 if w[0] <= layer <= w[1] else 0.0 for w in windows(num_layers)}
        return mcog(normalise(layer_weights_from_windows(num_layers, error)))

    return held_by(0), held_by(num_layers - 1)


def top_neuron_count(total: int, top_percent: float) -> int:
    """How many neurons the top ``top_percent`` % of ``total`` is: rounded, at least one."""
    if not 0 < top_percent <= 100:
        raise InvalidInputError(f"top_percent must be in (0, 100], got {top_percent}")
    return max(1, min(total, round(total * top_percent / 100)))


def neuron_layer_shares(neurons, top_percent: float) -> list[float]:
    """A neuron method's layer weights: the share of the top ``top_percent`` % of all L x d_ff neurons
    (by score, over the whole model; ties to the lower flat index) that lies in each layer."""
    import torch

    if neurons.ndim != 2:
        raise ValueError(f"neuron scores must be [layers, neurons], got shape {tuple(neurons.shape)}")
    num_layers, width = neurons.shape
    top = top_neuron_indices(neurons, top_percent)
    counts = torch.bincount(top // width, minlength=num_layers)
    return [float(c) / len(top) for c in counts.tolist()]


def top_neuron_indices(neurons, top_percent: float):
    """Flat indices (layer * d_ff + neuron) of the top ``top_percent`` % of all neurons by score, highest
    first; ties to the lower flat index (a stable sort)."""
    return top_neurons(neurons, top_neuron_count(neurons.numel(), top_percent))


def top_neurons(neurons, k: int):
    """The flat indices (layer * d_ff + neuron) of the ``k`` highest-scoring neurons of a [L, d_ff]
    tensor, best first; ties to the lower flat index."""
    import torch

    flat = neurons.detach().reshape(-1).to(torch.float64).cpu()
    return torch.sort(flat, descending=True, stable=True).indices[:k]  # stable: ties to the lower index


def single_layer_placements(num_layers: int) -> list[tuple[int, int]]:
    """The harder control track: the main task may update one layer, each layer in turn."""
    return [(k, k) for k in range(num_layers)]


def control_placements(num_layers: int) -> list[tuple[int, int]]:
    """The control setup's three placements (0-based): the first two, the middle two and the last
    two layers (12 layers: (0, 1), (5, 6), (10, 11); 6 layers: (0, 1), (2, 3), (4, 5))."""
    if num_layers < 2:
        raise InvalidInputError("the control setup needs at least 2 layers")
    mid = num_layers // 2
    # each placement once: with 2 or 3 layers some of the three coincide
    return list(dict.fromkeys([(0, 1), (mid - 1, mid), (num_layers - 2, num_layers - 1)]))


def control_accuracy(profile: list[float], placement: tuple[int, ...],
                     higher_wins_ties: bool = False) -> tuple[float, float, float]:
    """accuracy@1 (is the top layer a placement layer), accuracy@2 (the share of the top two that
    are; ties broken by the lower layer, or the higher one with ``higher_wins_ties``) and chance
    (placement layers / L: 2 / L for the paper's pairs)."""
    order = layer_ranking(profile, higher_wins_ties)
    target = set(placement)
    return float(order[0] in target), sum(i in target for i in order[:2]) / 2, len(target) / len(profile)


def layer_ranking(profile: list[float], higher_wins_ties: bool = False) -> list[int]:
    """Layers (0-based) from the highest weight down; ties go to the lower layer unless
    ``higher_wins_ties``."""
    return sorted(range(len(profile)), key=lambda i: (-profile[i], -i if higher_wins_ties else i))
