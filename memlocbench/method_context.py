"""Everything a localisation method may use, handed over by the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from memlocbench.data.encoding import Encoded
from memlocbench.data.noisy_dataset import NoisyDataset
from memlocbench.errors import InvalidInputError
from memlocbench.profiles import RunConfig
from memlocbench.protocols import ModelAdapter
from memlocbench.training.trained_models import TrainedModels


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
    return {**defaults, **given}
