"""A Task built from a hub dataset and a metadata record: the shared part of every task plugin.

It applies the paper's split procedure (the evaluation split is shuffled with the data seed and
halved into validation and test; tasks without one carve it out of train) and joins multi-field
inputs with the model's separator token (``a SEP b``). Task plugins subclass it only to filter or
relabel rows (:meth:`preprocess`).
"""

from __future__ import annotations

from pathlib import Path

from memlocbench.data.sources import LINE_COLUMN, SOURCE_COLUMN, load_raw_splits
from memlocbench.contracts.task_data import Examples, TaskData
from memlocbench.errors import InvalidDataError
from memlocbench.contracts.protocols import TaskMetadata


class HubTask:
    #: fraction of the train split held out as evaluation data when the hub has no evaluation split
    eval_fraction_of_train: float | None = None

    def __init__(self, metadata: TaskMetadata, eval_fraction_of_train: float | None = None):
        self.metadata = metadata
        if eval_fraction_of_train is not None:
            self.eval_fraction_of_train = eval_fraction_of_train

    def __repr__(self) -> str:
        return f"<task {self.metadata.name}>"

    # -- hooks for subclasses -------------------------------------------------------------------
    def preprocess(self, raw):
        """Filter or relabel the raw ``DatasetDict`` (default: nothing)."""
        return raw

    def label_of(self, row: dict) -> int:
        value = row[self.metadata.label_field]
        if isinstance(value, str):
            return self.metadata.label_names.index(value)
        return int(value)

    def fields_of(self, row: dict) -> list[str]:
        return [row[f] for f in self.metadata.text_fields]

    # -- the procedure ---------------------------------------------------------------------------
    def format_input(self, fields: list[str], separator: str) -> str:
        return f" {separator} ".join(fields)

    def _where(self, row: dict, split: str, index: int) -> str:
        if row.get(LINE_COLUMN) is not None:
            return f"{row[SOURCE_COLUMN]}, line {row[LINE_COLUMN]}"
        return f"task {self.metadata.name!r}, {split} split, row {index + 1}"

    def _label(self, row: dict, split: str, index: int) -> int:
        """The row's label as an integer 0..num_labels-1, or an InvalidDataError naming the row."""
        meta = self.metadata
        raw = row.get(meta.label_field)
        valid = f"valid labels: 0..{meta.num_labels - 1} or one of {list(meta.label_names)}"
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise InvalidDataError(f"{self._where(row, split, index)}: label {raw!r} is not an integer; {valid}")
        try:
            y = self.label_of(row)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise InvalidDataError(f"{self._where(row, split, index)}: label {raw!r} cannot be read "
                                   f"({type(exc).__name__}: {exc}); {valid}") from None
        if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < meta.num_labels:
            raise InvalidDataError(f"{self._where(row, split, index)}: label {raw!r} is out of range; {valid}")
        return y

    def _examples(self, ds, separator: str, split: str = "") -> Examples:
        rows = ds.to_list()
        texts = []
        for i, r in enumerate(rows):
            fields = self.fields_of(r)
            if not all(isinstance(f, str) for f in fields):
                raise InvalidDataError(f"{self._where(r, split, i)}: a text field is {fields!r}; every one of "
                                       f"{list(self.metadata.text_fields)} must be a string")
            texts.append(self.format_input(fields, separator))
        return Examples(texts, [self._label(r, split, i) for i, r in enumerate(rows)])

    def raw_splits(self, data_dir: Path | None):
        splits = self.metadata.splits
        wanted = [splits["train"]] + ([splits["evaluation"]] if "evaluation" in splits else [])
        return self.preprocess(load_raw_splits(self.metadata, data_dir, wanted))

    def load(self, data_dir: Path | None, seed: int, separator: str) -> TaskData:
        raw = self.raw_splits(data_dir)
        train = raw[self.metadata.splits["train"]]
        if "evaluation" in self.metadata.splits:
            evaluation = raw[self.metadata.splits["evaluation"]]
        else:
            if not self.eval_fraction_of_train:
                raise ValueError(f"task {self.metadata.name}: no evaluation split and no eval fraction")
            parts = train.train_test_split(test_size=self.eval_fraction_of_train, shuffle=True, seed=seed)
            train, evaluation = parts["train"], parts["test"]
        halves = evaluation.train_test_split(test_size=0.5, shuffle=True, seed=seed)
        return TaskData(
            train=self._examples(train, separator, "train"),
            validation=self._examples(halves["train"], separator, "validation"),
            test=self._examples(halves["test"], separator, "test"),
        )
