"""Accuracy and macro-F1 over integer labels, and the chance correction of a generalisation score
(no external dependency)."""

from __future__ import annotations

from collections import Counter
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


def label_prior_agreement(labels: Sequence[int]) -> float:
    """b = sum over classes of p_c², p_c the share of class c in ``labels``: the expected probability that
    a predictor which outputs the label prior gives an example's label (labels [0, 0, 0, 1]: 0.75² +
    0.25² = 0.625). The floor of a generalisation score that averages p(label | x)."""
    if not labels:
        raise ValueError("label_prior_agreement needs at least one label")
    n = len(labels)
    return sum((count / n) ** 2 for count in Counter(labels).values())


def chance_corrected(score: float | None, baseline: float) -> float | None:
    """(score − baseline) / (1 − baseline): 0 at the baseline, 1 at a perfect score (score 0.7 over
    baseline 0.625: 0.2). None where the score is None or the baseline is 1 (a single class: undefined)."""
    if score is None or baseline >= 1:
        return None
    return (score - baseline) / (1 - baseline)
