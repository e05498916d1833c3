"""Task data + subsample + label noise = the dataset every model and method of a run shares."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from memlocbench.data.noise import perturb_labels, stratified_subsample
from memlocbench.errors import InvalidDataError, InvalidInputError
from memlocbench.contracts.task_data import Examples
from memlocbench.config.profiles import DataConfig
from memlocbench.contracts.protocols import Task


@dataclass
class NoisyDataset:
    task: str
    label_names: tuple[str, ...]
    train_texts: list[str]
    original_labels: list[int]  # the dataset's labels (the clean twin trains on these)
    noisy_labels: list[int]  # after perturbation (the memorising model trains on these)
    noisy_idx: list[int]
    clean_idx: list[int]
    validation: Examples
    test: Examples
    original_train_size: int
    #: the task's training rows outside the sample (None when the sample is the whole split): where the
    #: routed tracks draw their decoy rows from. Not part of the fingerprint: what is drawn from it is
    #: part of the keys of the models trained on it
    spare_train: Examples | None = None

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def train_size(self) -> int:
        return len(self.train_texts)

    def fingerprint(self) -> str:
        """sha256 over every text and label: a different mirror or preprocessing gives another key."""
        h = hashlib.sha256()
        for part in (self.train_texts, self.original_labels, self.noisy_labels,
                     self.validation.texts, self.validation.labels, self.test.texts, self.test.labels):
            h.update(json.dumps(part, ensure_ascii=False).encode())
        return h.hexdigest()

    def sizes(self) -> dict[str, int]:
        return {
            "original_train_size": self.original_train_size,
            "effective_train_size": self.train_size,
            "n_noisy": len(self.noisy_idx),
            "n_clean": len(self.clean_idx),
            "validation_size": len(self.validation),
            "test_size": len(self.test),
        }


def _shown(value) -> str:
    """A value and its type for a message, its repr cut at 40 characters."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still named by its type
        text = "?"
    return f"{text[:40]}… ({type(value).__name__})" if len(text) > 40 else f"{text} ({type(value).__name__})"


def check_task_data(data, name: str, num_labels: int) -> None:
    """What a task's ``load`` returned, before anything is trained on it: a ``TaskData`` whose splits hold
    strings and integer labels 0..num_labels-1 (one per text), with a non-empty train and validation
    split; otherwise an InvalidDataError naming the task, the split, the example and what is valid."""
    where = f"task {name!r}: load() returned"
    splits = {s: getattr(data, s, None) for s in ("train", "validation", "test")}
    for split, ex in splits.items():
        texts, labels = getattr(ex, "texts", None), getattr(ex, "labels", None)
        if not isinstance(texts, (list, tuple)) or not isinstance(labels, (list, tuple)) \
                or len(texts) != len(labels):
            raise InvalidDataError(f"{where} a {split} split that is not Examples(texts=list[str], labels=list[int]) "
                                   f"with one label per text")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidDataError(f"{where} {split} example {i} with the text {_shown(text)}; every text must "
                                       f"be a string (a missing value in the data?)")
        for i, label in enumerate(labels):
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_labels:
                raise InvalidDataError(f"{where} {split} example {i} with the label {_shown(label)}; every label "
                                       f"must be an integer 0..{num_labels - 1} (the index of its label name)")
    for split in ("train", "validation"):
        if not splits[split].texts:
            raise InvalidDataError(f"{where} an empty {split} split; training and its evaluation need at least "
                                   f"one {split} example")


def build_noisy_dataset(task: Task, cfg: DataConfig, data_dir: Path | None, separator: str) -> NoisyDataset:
    data = task.load(data_dir, cfg.seed, separator)
    check_task_data(data, task.metadata.name, task.metadata.num_labels)
    train = data.train
    original_size = len(train)
    spare = None
    if cfg.train_size is not None and cfg.train_size < original_size:
        chosen = stratified_subsample(train.labels, cfg.train_size, cfg.seed)
        taken = set(chosen)
        spare = train.select([i for i in range(original_size) if i not in taken])
        train = train.select(chosen)
    elif cfg.train_size is not None and cfg.train_size > original_size:
        raise InvalidInputError(
            f"--train-size {cfg.train_size} exceeds the {original_size} training examples of task "
            f"{task.metadata.name!r}; use a value between 2 and {original_size}"
        )
    p = perturb_labels(train.labels, task.metadata.num_labels, cfg.noise_fraction, cfg.seed)
    return NoisyDataset(
        task=task.metadata.name,
        label_names=task.metadata.label_names,
        train_texts=train.texts,
        original_labels=train.labels,
        noisy_labels=p.labels,
        noisy_idx=p.noisy,
        clean_idx=p.clean,
        validation=data.validation,
        test=data.test,
        original_train_size=original_size,
        spare_train=spare,
    )
