"""Trivial baselines for the control benchmark (issue 31): methods that never look at memorisation. A
ground-truth track they solve is a giveaway, not a test of localisation.

* ``weight-delta`` (layers): layer l's weight is the L2 norm of the difference between the memorising
  model's parameters in layer l and the clean twin's; ``weight-delta-pretrained``: the pretrained
  model's (each also as the other through ``reference``). On the paper's control recipe the twin differs from the control model
  almost only in the placed layers, so this finds them; on the routed tracks every layer moves in both.
* ``weight-delta-neurons``: neuron j of layer l scores the L2 norm of the difference of its output
  weights (column j of the layer's down-projection), against the same references. Planting v3 trains the
  planted columns at 100x the learning rate, so their norms give them away.
* ``random`` and ``random-neurons``: uniform random scores from a generator seeded by the memorising
  model's store key, so a rerun gives the same ranking and nothing about the placement enters it.
"""

from __future__ import annotations

import hashlib

import torch

from memlocbench.api import hookimpl
from memlocbench.api import ffn_projections
from memlocbench.api import InvalidInputError, LayerScores, MethodInfo
from memlocbench.api import neuron_groups, neuron_output, neuron_params

REFERENCES = ("twin", "pretrained")


def _reference(ctx, method: str, reference: str) -> torch.nn.Module:
    if reference not in REFERENCES:
        raise InvalidInputError(f"method {method!r}: reference must be one of {', '.join(REFERENCES)}, "
                                f"got {reference!r}")
    return ctx.models.load("clean") if reference == "twin" else ctx.models.pretrained()


@torch.no_grad()
def layer_deltas(adapter, model, reference, num_layers: int) -> list[float]:
    """Per layer: the L2 norm of (model - reference) over the layer's parameters."""
    ref = dict(reference.named_parameters())
    sq = [0.0] * num_layers
    for name, p in model.named_parameters():
        group = adapter.parameter_group(name)
        if isinstance(group, int):
            sq[group] += float((p.double() - ref[name].double()).pow(2).sum())
    return [s ** 0.5 for s in sq]


@torch.no_grad()
def neuron_deltas(adapter, model, reference) -> torch.Tensor:
    """[L, d_ff]: the L2 norm of the difference of each neuron's output weights (a column of W_l)."""
    return torch.stack([(a.weight.double() - b.weight.double()).norm(dim=0)
                        for a, b in zip(ffn_projections(adapter, model), ffn_projections(adapter, reference))]).float()


def _generator(ctx) -> torch.Generator:
    """Seeded by the memorising model's key: reproducible, and blind to where memorisation was put."""
    digest = hashlib.sha256(ctx.models.key("memorising").encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "big"))


class WeightDelta:
    """``weight-delta`` (against the twin by default) and ``weight-delta-pretrained`` (against the
    pretrained weights): two registered methods, so that every control table shows both."""

    def __init__(self, reference: str = "twin"):
        suffix = "" if reference == "twin" else f"-{reference}"
        against = "its clean twin" if reference == "twin" else "the pretrained weights"
        self.info = MethodInfo(name=f"weight-delta{suffix}", suites=("baselines",),
                               description=f"baseline: per layer, the norm of the weight difference between the "
                                           f"memorising model and {against}")
        self.defaults = {"reference": reference}

    def localise(self, ctx) -> LayerScores:
        p = ctx.params(self.info.name, self.defaults)
        reference = _reference(ctx, self.info.name, p["reference"])
        raw = layer_deltas(ctx.adapter, ctx.models.load("memorising"), reference, ctx.num_layers)
        return LayerScores(raw=raw, details={"params": p, "norms": raw})


class WeightDeltaNeurons:
    """``weight-delta-neurons`` (twin) and ``weight-delta-neurons-pretrained``."""

    def __init__(self, reference: str = "twin"):
        suffix = "" if reference == "twin" else f"-{reference}"
        against = "its twin" if reference == "twin" else "the pretrained weights"
        self.info = MethodInfo(name=f"weight-delta-neurons{suffix}", granularity="neuron", suites=("baselines",),
                               description=f"baseline: per FFN neuron, the norm of its output weights' difference "
                                           f"between the memorising model and {against}")
        self.defaults = {"reference": reference}

    def localise(self, ctx) -> LayerScores:
        p = neuron_params(ctx, self.info.name, self.defaults)
        reference = _reference(ctx, self.info.name, p["reference"])
        neurons = neuron_deltas(ctx.adapter, ctx.models.load("memorising"), reference)
        return neuron_output(neurons, p["top_percent"], neuron_groups(ctx, p["seed"]), {"params": p})


class RandomLayers:
    info = MethodInfo(name="random", description="baseline: uniform random layer weights (seeded)",
                      suites=("baselines",))
    defaults: dict = {}

    def localise(self, ctx) -> LayerScores:
        raw = torch.rand(ctx.num_layers, generator=_generator(ctx), dtype=torch.float64).tolist()
        return LayerScores(raw=raw, details={"seeded_by": "the memorising model's store key"})


class RandomNeurons:
    info = MethodInfo(name="random-neurons", granularity="neuron", suites=("baselines",),
                      description="baseline: uniform random neuron scores (seeded)")
    defaults: dict = {}

    def localise(self, ctx) -> LayerScores:
        p = neuron_params(ctx, self.info.name, {})
        model = ctx.models.load("memorising")
        shape = torch.stack([proj.weight.detach()[0] for proj in ffn_projections(ctx.adapter, model)]).shape
        neurons = torch.rand(shape, generator=_generator(ctx))
        return neuron_output(neurons, p["top_percent"], neuron_groups(ctx, p["seed"]), {"params": p})


@hookimpl
def register_methods(register):
    for method in (WeightDelta(), WeightDelta("pretrained"), WeightDeltaNeurons(), WeightDeltaNeurons("pretrained"),
                   RandomLayers(), RandomNeurons()):
        register(method)
