"""Accuracy and macro-F1 over integer labels (no external dependency)."""

from __future__ import annotations

from typing import Sequence


def accuracy(pred: Sequence[int], gold: Sequence[int]) -> float:
    if len(pred) != len(gold):
        raise ValueError("length mismatch")
    return sum(int(p == g) for p, g in zip(pred, gold)) / len(gold) if gold else float("nan")


def f1_per_class(pred: Sequence[int], gold: Sequence[int], label: int) -> float:
    tp = sum(1 for p, g in zip(pred, gold) if p == label and g == label)
    fp = sum(1 for p, g in zip(pred, gold) if p == label and g != label)
    fn = sum(1 for p, g in zip(pred, gold) if p != label and g == label)
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def macro_f1(pred: Sequence[int], gold: Sequence[int]) -> float:
    """Mean F1 over the labels present in gold or pred (as sklearn's ``average='macro'``)."""
    labels = sorted(set(gold) | set(pred))
    return sum(f1_per_class(pred, gold, c) for c in labels) / len(labels) if labels else float("nan")
