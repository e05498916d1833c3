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


def min_class_size(noise_fraction: float) -> int:
    """The smallest class size n with floor(noise_fraction * n) >= 1 (one perturbed label)."""
    n = max(1, math.ceil(1 / noise_fraction))
    while math.floor(noise_fraction * n) < 1:
        n += 1
    return n


def check_noisy_examples(dataset: NoisyDataset, noise_fraction: float, train_size: int | None) -> None:
    """At least one training example must carry a perturbed label."""
    if dataset.noisy_idx:
        return
    counts = Counter(dataset.original_labels)
    largest = max(counts.values()) if counts else 0
    need = min_class_size(noise_fraction)
    share = largest / dataset.train_size if dataset.train_size else 1.0
    size_hint = math.ceil(need / share) if share > 0 else need
    per_class = ", ".join(f"{dataset.label_names[c]}: {n}" for c, n in sorted(counts.items()))
    raise InvalidInputError(
        f"no training example would get a perturbed label: with noise {noise_fraction:g}, a class needs at least "
        f"{need} examples for floor({noise_fraction:g} x n) >= 1, but the {dataset.train_size} training examples"
        + (f" (--train-size {train_size})" if train_size is not None else "")
        + f" have at most {largest} per class ({per_class}). Use --train-size of at least about {size_hint}"
        + (f" or --noise of at least {math.ceil(1000 / largest) / 1000:g}" if largest > 1 else "")
        + "; without noisy examples there is nothing to memorise.")
