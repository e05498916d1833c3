"""Feed-forward neurons, read and scaled: the one mechanism every neuron-level method and track uses.

Neuron j of layer l is input feature j of the layer's feed-forward down-projection
(``adapter.ffn_projections(model)[l]``, see the ModelAdapter protocol). ``scaled_neurons`` multiplies
those activations by a per-layer factor through forward pre-hooks: 0 zeroes (ablates) a neuron, a
tensor that requires grad makes a differentiable mask (for mask-learning and gradient-based neuron
methods). ``recorded_neurons`` keeps the activations of a forward pass.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from memlocbench.errors import InvalidInputError


def ffn_projections(adapter, model: nn.Module) -> list[nn.Linear]:
    if not hasattr(adapter, "ffn_projections"):
        raise InvalidInputError(f"model {adapter.info.name!r} does not say where its feed-forward neurons are "
                                f"(its adapter has no ffn_projections); neuron methods cannot run on it")
    return adapter.ffn_projections(model)


def ffn_input_projections(adapter, model: nn.Module) -> list[list[nn.Linear]]:
    """Per layer, the linear maps that compute its feed-forward neurons' pre-activations: row j of each
    is neuron j's input weights. The adapter's ``ffn_input_projections`` where it has one, else every
    ``nn.Linear`` of the layer with as many outputs as the down-projection has inputs (BERT's
    ``intermediate.dense``, OPT's ``fc1``, GPT-Neo's ``c_fc``, GPT-NeoX's ``dense_h_to_4h``; a gated
    feed-forward block gives two)."""
    if hasattr(adapter, "ffn_input_projections"):
        return [list(x) for x in adapter.ffn_input_projections(model)]
    out = []
    for layer, (block, down) in enumerate(zip(adapter.layer_modules(model), ffn_projections(adapter, model))):
        found = [m for m in block.modules() if isinstance(m, nn.Linear) and m is not down
                 and m.out_features == down.in_features]
        if not found:
            raise InvalidInputError(f"model {adapter.info.name!r}: layer {layer} has no linear map onto its "
                                    f"{down.in_features} feed-forward neurons; give the adapter ffn_input_projections")
        out.append(found)
    return out


def ffn_shape(adapter, model: nn.Module) -> tuple[int, int]:
    """(layers, d_ff): the number of feed-forward down-projections and their common input width."""
    projections = ffn_projections(adapter, model)
    widths = {p.in_features for p in projections}
    if len(widths) != 1:
        raise InvalidInputError(f"model {adapter.info.name!r}: layers of different feed-forward widths {sorted(widths)}")
    return len(projections), widths.pop()


@contextmanager
def scaled_neurons(adapter, model: nn.Module, scale: torch.Tensor | list[torch.Tensor | None]) -> Iterator[None]:
    """Within the block, layer l's neuron activations are multiplied by ``scale[l]``: a [L, d_ff]
    tensor, or a list with one [d_ff] (or [B, 1, d_ff], broadcast over positions) tensor or None
    (untouched) per layer. Gradients flow to ``scale``. The hooks are removed on exit."""
    projections = ffn_projections(adapter, model)
    if len(scale) != len(projections):
        raise InvalidInputError(f"neuron scale has {len(scale)} layers; the model has {len(projections)}")
    handles = []
    try:
        for proj, s in zip(projections, scale):
            if s is None:
                continue
            if s.shape[-1] != proj.in_features:
                raise InvalidInputError(f"neuron scale of width {s.shape[-1]}; the layer has {proj.in_features} neurons")
            handles.append(proj.register_forward_pre_hook(lambda m, args, s=s: (args[0] * _fit(s, args[0]),)))
        yield
    finally:
        for h in handles:
            h.remove()


def _fit(scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``scale`` in ``x``'s dtype and shape: OPT runs its feed-forward block on [B*T, d_ff] (positions
    flattened), so a per-example [B, 1, d_ff] scale is repeated over each example's T rows."""
    scale = scale.to(x.dtype)
    if x.ndim == 2 and scale.ndim == 3:
        rows = scale.shape[0]
        if x.shape[0] % rows:
            raise InvalidInputError(f"a neuron scale for {rows} examples cannot apply to {x.shape[0]} flattened rows")
        scale = scale.expand(rows, x.shape[0] // rows, scale.shape[-1]).reshape(x.shape[0], scale.shape[-1])
    return scale


@contextmanager
def recorded_neurons(adapter, model: nn.Module) -> Iterator[list[list[torch.Tensor]]]:
    """Yields a list that, after each forward pass in the block, has one more entry: the [B, T, d_ff]
    activations of every layer (a list over layers), kept in the autograd graph. OPT flattens the
    positions ([B*T, d_ff]); ``.reshape(B, -1, d_ff)`` restores them."""
    records: list[list[torch.Tensor]] = []
    current: dict[int, torch.Tensor] = {}
    projections = ffn_projections(adapter, model)
    last = len(projections) - 1

    def hook(index):
        def fn(module, args):
            current[index] = args[0]
            if index == last:
                records.append([current[i] for i in range(len(projections))])
                current.clear()
        return fn

    handles = [p.register_forward_pre_hook(hook(i)) for i, p in enumerate(projections)]
    try:
        yield records
    finally:
        for h in handles:
            h.remove()
