"""Run part of a stock transformers model: from the input of layer ``start`` to the output of
layer ``stop - 1``, or on to the logits.

This lets methods reuse what frozen layers compute (hidden states below a window are computed once)
without forking transformers' modelling code. It works by temporarily replacing the layers below
``start`` with pass-through modules, handing layer ``start`` the cached hidden state through a
forward pre-hook and, when only hidden states are wanted, stopping the forward pass after layer
``stop - 1``. The
model computes its own attention masks and position embeddings as usual, so the same code serves
every architecture whose layers take the hidden states as their first argument.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from memlocbench.contracts.protocols import ModelAdapter


class _PassThrough(nn.Module):
    def __init__(self, wrap):
        super().__init__()
        self.wrap = wrap

    def forward(self, hidden_states, *args, **kwargs):
        return self.wrap(hidden_states)


class _Stop(Exception):
    def __init__(self, value: torch.Tensor):
        self.value = value


def layer_output(output) -> torch.Tensor:
    """The hidden states in what a layer module returns (a tensor, or a tuple whose first item they are)."""
    return output[0] if isinstance(output, (tuple, list)) else output


@contextmanager
def _from_layer(adapter: ModelAdapter, layers: nn.ModuleList, start: int,
                hidden: torch.Tensor | None) -> Iterator[None]:
    """Within the context, layers below ``start`` pass their input through and layer ``start``
    receives ``hidden`` (with ``start == len(layers)``, the last layer's output is ``hidden``)."""
    wrap = getattr(adapter, "wrap_layer_output", lambda h: h)
    originals = {i: layers[i] for i in range(start)}
    handles = []

    def inject_input(module, args, kwargs):
        if args:
            return (hidden, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": hidden}

    try:
        for i in range(start):
            layers[i] = _PassThrough(wrap)
        if hidden is not None:
            if start < len(layers):
                handles.append(layers[start].register_forward_pre_hook(inject_input, with_kwargs=True))
            else:
                handles.append(layers[start - 1].register_forward_hook(lambda m, a, o: wrap(hidden)))
        yield
    finally:
        for h in handles:
            h.remove()
        for i, module in originals.items():
            layers[i] = module


def run_layers(adapter: ModelAdapter, model: nn.Module, batch: dict[str, torch.Tensor],
               start: int, stop: int, hidden: torch.Tensor | None) -> torch.Tensor:
    """Output of layer ``stop - 1`` when layer ``start`` receives ``hidden``
    (``hidden=None`` with ``start == 0``: the model's own embeddings)."""
    layers = adapter.layer_modules(model)
    if not 0 <= start < stop <= len(layers):
        raise ValueError(f"need 0 <= start < stop <= {len(layers)}, got {start}, {stop}")

    def stop_hook(module, args, output):
        raise _Stop(layer_output(output))

    handle = layers[stop - 1].register_forward_hook(stop_hook)
    try:
        with _from_layer(adapter, layers, start, hidden):
            model(**batch)
    except _Stop as s:
        return s.value
    finally:
        handle.remove()
    raise RuntimeError("the forward pass never reached the requested layer")


def logits_from(adapter: ModelAdapter, model: nn.Module, batch: dict[str, torch.Tensor],
                start: int, hidden: torch.Tensor | None) -> torch.Tensor:
    """Logits when layer ``start`` receives ``hidden`` (``start == len(layers)``: only the head
    runs, on ``hidden``)."""
    layers = adapter.layer_modules(model)
    if not 0 <= start <= len(layers):
        raise ValueError(f"need 0 <= start <= {len(layers)}, got {start}")
    with _from_layer(adapter, layers, start, hidden):
        return model(**batch).logits


def all_layer_inputs(model: nn.Module, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Hidden states h[0..L]: h[i] (i < L) is the input of layer i. h[L] is the model's final hidden
    state, which for some decoders has a final layer norm applied: do not feed it to ``logits_from``."""
    return list(model(**batch, output_hidden_states=True).hidden_states)


def pad_hidden(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """Stack per-example hidden states ([len_i, d], cached without padding) into [n, width, d],
    zero-padded on the right, as ``Encoded.batch`` pads the token ids."""
    out = torch.zeros(len(rows), width, rows[0].shape[-1], dtype=rows[0].dtype, device=rows[0].device)
    for row, h in enumerate(rows):
        out[row, : h.shape[0]] = h
    return out


@torch.no_grad()
def cache_per_example(enc, batch_size: int,
                      states: Callable[[dict[str, torch.Tensor]], list[torch.Tensor]]) -> list[list[torch.Tensor]]:
    """Run ``states(batch)`` (hidden states [B, T, d] for a padded batch of ``enc``) over every
    example once, in length-sorted batches, and keep each example's rows without padding:
    ``out[i][k]`` is the k-th state of example i, ``[len_i, d]``."""
    out: list[list[torch.Tensor] | None] = [None] * len(enc.ids)
    for chunk, batch in enc.eval_batches(list(range(len(enc.ids))), batch_size):
        hs = states(batch)
        for row, i in enumerate(chunk):
            n = len(enc.ids[i])
            out[i] = [h[row, :n].float().clone() for h in hs]
    return out
