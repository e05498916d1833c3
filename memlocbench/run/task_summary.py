"""Sizes and noisy counts of a task under the default procedure (full train split, data seed 1)."""

from __future__ import annotations

from pathlib import Path

from memlocbench.data.noisy_dataset import build_noisy_dataset
from memlocbench.errors import MemlocbenchError
from memlocbench.config.profiles import DataConfig
from memlocbench.contracts.protocols import Task


def task_sizes(task: Task, data_dir: Path | None, seed: int = 1) -> dict[str, int] | str:
    """Train / validation / test sizes and the number of noisy examples, or why they are unavailable."""
    try:
        d = build_noisy_dataset(task, DataConfig(seed=seed, train_size=None), data_dir, separator="[SEP]")
    except MemlocbenchError as exc:
        return str(exc)
    except Exception as exc:  # one broken task must not abort `list tasks`
        return f"{type(exc).__name__}: {exc}"
    return {"train": d.train_size, "validation": len(d.validation), "test": len(d.test), "noisy": len(d.noisy_idx)}
