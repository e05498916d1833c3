"""Examples as the model sees them: input strings with integer labels, per split."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Examples:
    texts: list[str]
    labels: list[int]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, indices: list[int]) -> "Examples":
        return Examples([self.texts[i] for i in indices], [self.labels[i] for i in indices])


@dataclass
class TaskData:
    """A task after its own preprocessing, before any label noise."""

    train: Examples
    validation: Examples
    test: Examples
