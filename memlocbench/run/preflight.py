"""Checks before any training: what would otherwise fail, or produce nothing, after the work.

Called by :func:`memlocbench.run.method_run.run` once names are resolved: the store and the output folder
are writable, the maximum length fits the model, and the noisy dataset has at least one example
with a perturbed label (with none there is nothing to memorise and every profile is empty). Range
checks on single settings (seeds, epochs, learning rate, noise fraction) live in
:mod:`memlocbench.config.profiles`; bad data rows are reported by :mod:`memlocbench.data.sources`.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from pathlib import Path

from memlocbench.data.noisy_dataset import NoisyDataset
from memlocbench.errors import InvalidInputError

#: class sizes are searched below this (no dataset is larger), so the search is bounded
_MAX_CLASS_SIZE = 2**63


def check_writable(folder: Path, what: str, option: str) -> None:
    """Create ``folder`` if needed and write (then delete) a temporary file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".memlocbench-preflight-"):
            pass
    except OSError as exc:
        raise InvalidInputError(f"the {what} {folder} is not writable ({exc.strerror or exc}); "
                                f"choose a writable folder with {option}") from None


def model_max_positions(adapter, tokenizer) -> int | None:
    """The model's position limit: the adapter's ``max_positions()`` if it has one (read from the
    model config), else the tokenizer's ``model_max_length`` when that is a real limit."""
    limit = None
    probe = getattr(adapter, "max_positions", None)
    if callable(probe):
        limit = probe()
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limit = tok_limit if limit is None else min(limit, tok_limit)
    return limit


def check_max_length(max_length: int, adapter, tokenizer, model_name: str) -> None:
    limit = model_max_positions(adapter, tokenizer)
    if limit is not None and max_length > limit:
        raise InvalidInputError(f"--max-length {max_length} exceeds model {model_name!r}'s {limit} positions; "
                                f"use a value between 8 and {limit}")


def check_layers(num_layers: int, adapter, model_name: str) -> None:
    """The model's layer count (``len(adapter.layer_modules(model))``), before any training: between 1 and
    the result schema's maximum, and the count its ``ModelInfo.num_layers`` declares, where it declares one."""
    from memlocbench.results.run_result import MAX_LAYERS

    declared = getattr(getattr(adapter, "info", None), "num_layers", None)
    if not 1 <= num_layers <= MAX_LAYERS:
        raise InvalidInputError(f"model {model_name!r} has {num_layers} layers (its adapter's layer_modules); "
                                f"memlocbench localises in models of 1 to {MAX_LAYERS} layers")
    if declared is not None and declared != num_layers:
        raise InvalidInputError(f"model {model_name!r} declares {declared} layers (ModelInfo.num_layers), but its "
                                f"adapter's layer_modules gives {num_layers}; the two must agree")


def min_class_size(noise_fraction: float) -> int | None:
    """The smallest class size n with floor(noise_fraction * n) >= 1 (one perturbed label), as
    ``perturb_labels`` computes it in floating point; None when no class size below 2**63 would do (a
    fraction so small that it cannot perturb a label of any real dataset, e.g. 1e-300 or 5e-324).
    Bisection (float products grow with n): at most 63 steps, whatever the fraction."""
    if not noise_fraction > 0 or math.floor(noise_fraction * _MAX_CLASS_SIZE) < 1:
        return None
    lo, hi = 0, _MAX_CLASS_SIZE  # floor(f * lo) < 1 <= floor(f * hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if math.floor(noise_fraction * mid) >= 1 else (mid, hi)
    return hi


def _count(n: int) -> str:
    """A count for a message: in full up to a trillion, else as 1.2e+300."""
    return f"{n}" if n < 10**12 else f"{float(n):.3g}"


def check_noisy_examples(dataset: NoisyDataset, noise_fraction: float, train_size: int | None) -> None:
    """At least one training example must carry a perturbed label."""
    if dataset.noisy_idx:
        return
    counts = Counter(dataset.original_labels)
    largest = max(counts.values()) if counts else 0
    need = min_class_size(noise_fraction)
    share = largest / dataset.train_size if dataset.train_size else 1.0
    per_class = ", ".join(f"{dataset.label_names[c]}: {n}" for c, n in sorted(counts.items()))
    noise_hint = f"--noise of at least {math.ceil(1000 / largest) / 1000:g}" if largest > 1 else None
    if need is None:
        needs = f"no class of fewer than 2**63 examples gets one (floor({noise_fraction:g} x n) = 0)"
        hints = [noise_hint or "a larger --noise"]
    else:
        needs = f"a class needs at least {_count(need)} examples for floor({noise_fraction:g} x n) >= 1"
        size_hint = math.ceil(need / share) if share > 0 else need
        available = getattr(dataset, "original_train_size", None)
        hints = ([f"--train-size of at least about {_count(size_hint)}"]
                 if available is None or size_hint <= available else []) + ([noise_hint] if noise_hint else [])
        if not hints:
            hints = ["a larger --noise"]
    raise InvalidInputError(
        f"no training example would get a perturbed label: with noise {noise_fraction:g}, {needs}, but the "
        f"{dataset.train_size} training examples"
        + (f" (--train-size {train_size})" if train_size is not None else "")
        + f" have at most {largest} per class ({per_class}). Use {' or '.join(hints)}"
        + "; without noisy examples there is nothing to memorise.")
