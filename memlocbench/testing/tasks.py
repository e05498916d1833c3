"""``check_task``: a task plugin's metadata and the data its ``load`` returns."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from memlocbench.contracts.protocols import TaskMetadata
from memlocbench.contracts.task_data import Examples, TaskData

SPLITS = ("train", "validation", "test")


def _metadata(task) -> TaskMetadata:
    meta = getattr(task, "metadata", None)
    assert isinstance(meta, TaskMetadata), f"task {task!r}: its metadata is a {type(meta).__name__}, not a TaskMetadata"
    try:
        TaskMetadata.model_validate(meta.model_dump())
    except ValidationError as exc:
        raise AssertionError(f"task {meta.name!r}: its metadata does not validate: {exc}") from None
    names = list(meta.label_names)
    assert len(names) >= 2, f"task {meta.name!r}: {len(names)} label name(s); a classification task needs at least 2"
    assert len(set(names)) == len(names), f"task {meta.name!r}: label names repeat: {names}"
    assert meta.text_fields, f"task {meta.name!r}: no text fields"
    return meta


def _bad_texts(split: Examples, separator: str, multi_field: bool) -> list[str]:
    bad = []
    for i, text in enumerate(split.texts):
        if not isinstance(text, str) or not text.strip():
            bad.append(f"text {i} is {text!r}, not a non-empty string")
        elif multi_field and separator not in text:
            bad.append(f"text {i} ({text[:60]!r}) does not hold the separator {separator!r} that joins its fields")
    return bad


def _bad_labels(split: Examples, num_labels: int) -> list[str]:
    return [f"label {i} is {y!r}, not an integer 0..{num_labels - 1}" for i, y in enumerate(split.labels)
            if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < num_labels]


def _check_data(data: object, meta: TaskMetadata, separator: str) -> None:
    name = meta.name
    assert isinstance(data, TaskData), f"task {name!r}: load returned a {type(data).__name__}, not a TaskData"
    for split in SPLITS:
        examples = getattr(data, split)
        assert isinstance(examples, Examples), (f"task {name!r}: the {split} split is a {type(examples).__name__}, "
                                                f"not Examples")
        assert len(examples.texts) == len(examples.labels), (
            f"task {name!r}: the {split} split has {len(examples.texts)} texts but {len(examples.labels)} labels")
        assert len(examples) > 0, f"task {name!r}: the {split} split is empty"
        bad = _bad_texts(examples, separator, len(meta.text_fields) > 1) + _bad_labels(examples, meta.num_labels)
        assert not bad, f"task {name!r}, {split} split: {len(bad)} bad example(s), e.g. " + "; ".join(bad[:3])


def check_task(task, data_dir: Path | None, *, seed: int = 1, separator: str = "[SEP]") -> TaskData:
    """Check a task: valid ``TaskMetadata`` (at least two distinct label names); ``load(data_dir, seed,
    separator)`` returns a ``TaskData`` whose three splits are non-empty, whose texts are non-empty strings
    (holding ``separator`` when the task has several text fields) and whose labels are integers
    0..num_labels-1; and a second load with the same seed returns the same data. Returns the data.
    Raises AssertionError naming the task, the split and the examples that are wrong."""
    meta = _metadata(task)
    data = task.load(data_dir, seed, separator)
    _check_data(data, meta, separator)
    again = task.load(data_dir, seed, separator)
    for split in SPLITS:
        a, b = getattr(data, split), getattr(again, split)
        assert (a.texts, a.labels) == (b.texts, b.labels), (
            f"task {meta.name!r}: two loads with data seed {seed} differ in the {split} split; load must be "
            f"deterministic under the seed (shuffle with it, never with global random state)")
    return data
