"""Everything a localisation method may use, handed over by the pipeline."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from memlocbench.data.encoding import Encoded
from memlocbench.data.noisy_dataset import NoisyDataset
from memlocbench.errors import InvalidInputError
from memlocbench.config.profiles import RunConfig
from memlocbench.contracts.protocols import ModelAdapter
from memlocbench.training.trained_models import TrainedModels, for_plugin


@dataclass
class MethodContext:
    task_name: str
    adapter: ModelAdapter
    tokenizer: Any
    dataset: NoisyDataset
    train_enc: Encoded  # tokenised training texts, indexed like dataset.train_texts
    models: TrainedModels  # .load("memorising" | "clean", checkpoint="final" | "first_fit")
    config: RunConfig
    num_layers: int
    progress: bool = True

    def __post_init__(self) -> None:
        self.models = for_plugin(self.models)  # a plugin cannot write trained models or cached scores

    def params(self, method: str, defaults: dict[str, Any]) -> dict[str, Any]:
        """The method's parameters: its defaults updated with the run config's ``methods[method]``."""
        return merge_params("method", method, self.config.methods.get(method, {}), defaults)


def merge_params(kind: str, name: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; a parameter the plugin does not have is an error."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InvalidInputError(
            f"{kind} {name!r} has no parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(defaults))}"
        )
    for key, value in given.items():
        problem = _param_problem(value, defaults[key])
        if problem:
            raise InvalidInputError(f"{kind} {name!r}: parameter {key}={value!r} is invalid: {problem} "
                                    f"(default {defaults[key]!r})")
    return {**defaults, **given}


def _param_problem(value: Any, default: Any) -> str | None:
    """Why ``value`` cannot replace ``default``: it must have the default's JSON type (an int may stand for
    a float), be finite, and not be negative where the default is not; lists are checked element by element
    against the default's first element."""
    if isinstance(default, bool) or isinstance(value, bool):
        return None if isinstance(value, bool) and isinstance(default, bool) else f"expected {type(default).__name__}"
    if isinstance(default, (int, float)):
        if not isinstance(value, (int, float)) or (isinstance(default, int) and not isinstance(value, int)):
            return f"expected {'an integer' if isinstance(default, int) else 'a number'}"
        if not math.isfinite(value):
            return "not a finite number"
        if default >= 0 and value < 0:
            return "must not be negative"
        return None
    if isinstance(default, (list, tuple)):
        if not isinstance(value, list):
            return "expected a list"
        for item in value if default else ():
            problem = _param_problem(item, default[0])
            if problem:
                return f"element {item!r}: {problem}"
        return None
    if isinstance(default, str) and not isinstance(value, str):
        return "expected a string"
    return None
