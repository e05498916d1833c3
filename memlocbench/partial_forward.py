"""Run part of a stock transformers model: from the input of layer ``start`` to the output of
layer ``stop - 1``, or on to the logits.

This lets methods reuse what frozen layers compute (hidden states below a window are computed once)
without forking transformers' modelling code. It works by temporarily replacing the layers below
``start`` with pass-through modules (the last of which hands back the cached hidden state) and,
when only hidden states are wanted, by stopping the forward pass after layer ``stop - 1``. The
model computes its own attention masks and position embeddings as usual, so the same code serves
every architecture whose layers take the hidden states as their first argument.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from memlocbench.protocols import ModelAdapter


class _PassThrough(nn.Module):
    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


class _Inject(nn.Module):
    def __init__(self, value: torch.Tensor, wrap):
        super().__init__()
        self.value, self.wrap = value, wrap

    def forward(self, hidden_states, *args, **kwargs):
        return self.wrap(self.value)


class _Stop(Exception):
    def __init__(self, value: torch.Tensor):
        self.value = value


@contextmanager
def _replaced(layers: nn.ModuleList, replacements: dict[int, nn.Module]) -> Iterator[None]:
    originals = {i: layers[i] for i in replacements}
    try:
        for i, module in replacements.items():
            layers[i] = module
        yield
    finally:
        for i, module in originals.items():
            layers[i] = module


def _unwrap(output) -> torch.Tensor:
    return output[0] if isinstance(output, (tuple, list)) else output


def _wrap_for(adapter: ModelAdapter):
    return getattr(adapter, "wrap_layer_output", lambda h: h)


def run_layers(adapter: ModelAdapter, model: nn.Module, batch: dict[str, torch.Tensor],
               start: int, stop: int, hidden: torch.Tensor | None) -> torch.Tensor:
    """Output of layer ``stop - 1`` given ``hidden``, the input of layer ``start``
    (``hidden`` is ignored when ``start == 0``: the model's own embeddings are used)."""
    layers = adapter.layer_modules(model)
    if not 0 <= start < stop <= len(layers):
        raise ValueError(f"need 0 <= start < stop <= {len(layers)}, got {start}, {stop}")
    replacements: dict[int, nn.Module] = {i: _PassThrough() for i in range(start)}
    if start > 0:
        replacements[start - 1] = _Inject(hidden, _wrap_for(adapter))

    def stop_hook(module, args, output):
        raise _Stop(_unwrap(output))

    handle = layers[stop - 1].register_forward_hook(stop_hook)
    try:
        with _replaced(layers, replacements):
            model(**batch)
    except _Stop as s:
        return s.value
    finally:
        handle.remove()
    raise RuntimeError("the forward pass never reached the requested layer")


def logits_from(adapter: ModelAdapter, model: nn.Module, batch: dict[str, torch.Tensor],
                start: int, hidden: torch.Tensor | None) -> torch.Tensor:
    """Logits when layer ``start`` receives ``hidden`` (``start == len(layers)``: only the head runs)."""
    layers = adapter.layer_modules(model)
    if not 0 <= start <= len(layers):
        raise ValueError(f"need 0 <= start <= {len(layers)}, got {start}")
    if start == 0:
        return model(**batch).logits
    replacements: dict[int, nn.Module] = {i: _PassThrough() for i in range(start - 1)}
    replacements[start - 1] = _Inject(hidden, _wrap_for(adapter))
    with _replaced(layers, replacements):
        return model(**batch).logits


def all_layer_inputs(model: nn.Module, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Hidden states h[0..L]: h[i] is the input of layer i, h[L] the last layer's output."""
    return list(model(**batch, output_hidden_states=True).hidden_states)
