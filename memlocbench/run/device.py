"""Which torch device a run uses (``--device cpu|cuda|auto``).

The device is a runtime choice, not a setting of the experiment: it is not part of any store key
or config hash (as in the paper, where the GPU is not part of the configuration). Models are moved
to it when they are built; ``Encoded`` batches are created on it; methods create their own tensors
on the device of the model or batch they work with.
"""

from __future__ import annotations

import torch

from memlocbench.errors import InvalidInputError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str | None) -> str:
    """'cpu', 'cuda' (the current CUDA device; an error naming the cause if there is none) or
    'auto' (cuda when available, else cpu) -> a torch device string."""
    name = (name or "cpu").lower()
    if name not in DEVICES:
        raise InvalidInputError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            "--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is False; "
            f"torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); use --device cpu or auto")
    return name
