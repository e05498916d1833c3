"""How the arithmetic of training and evaluation is done: numeric precision and batch plans.

The defaults (fp32, random batches) are exact reproductions of the paper's loop; bf16 autocast and
length-grouped batches are opt-in speed-ups (``ComputeConfig``, profile ``cpu-fast``) that change
results slightly.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch


def autocast(model: torch.nn.Module, precision: str) -> AbstractContextManager:
    """bf16 autocast on the model's device when ``precision == "bf16"``; a no-op for fp32."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    device = next(model.parameters()).device.type
    return torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")


def training_batches(indices: list[int], lengths: list[int], batch_size: int, generator: torch.Generator,
                     batching: str = "random", group_size: int = 8) -> list[list[int]]:
    """One epoch's batches of ``indices``.

    ``random``: a seeded permutation cut into consecutive batches (exactly the paper's sampler).
    ``length-grouped``: the same permutation cut into mega-batches of ``group_size`` batches, each
    sorted by length (ties keep their random order) and cut into batches, then the order of all
    batches shuffled. Padding shrinks; every batch is still drawn at random from a slice of the
    shuffled data. Both give ceil(len(indices) / batch_size) batches."""
    perm = torch.randperm(len(indices), generator=generator).tolist()
    order = [indices[i] for i in perm]
    if batching == "random":
        return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
    if batching != "length-grouped":
        raise ValueError(f"batching must be 'random' or 'length-grouped', got {batching!r}")
    mega = batch_size * group_size
    batches = []
    for m in range(0, len(order), mega):
        block = sorted(order[m : m + mega], key=lambda i: lengths[i])
        batches += [block[k : k + batch_size] for k in range(0, len(block), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
