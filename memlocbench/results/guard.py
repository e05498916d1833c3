"""The memorisation guard: did the memorising model memorise? Per-role training statistics, the guard's
verdict, and the rule that derives it from the statistics and the run's ``GuardConfig``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from memlocbench.config.profiles import GuardConfig
from memlocbench.names import Name
from memlocbench.results.fields import RECOMPUTE_TOLERANCE, Fraction, NonNegative, StrictRecord

class MemorisationStats(StrictRecord):
    role: Name
    labels: Literal["noisy", "clean"]
    noisy_fit_perturbed: Fraction = Field(description="share of noisy examples predicted as their perturbed label")
    noisy_original_acc: Fraction = Field(description="share of noisy examples predicted as their original label")
    clean_train_acc: Fraction
    validation_acc: Fraction
    first_fit_epoch: int | None = Field(ge=1)
    epochs_trained: int | None = Field(None, ge=1, description="epochs trained (train_until_fit may add some)")
    epochs: list[dict[Name, float | None]]
    train_seconds: NonNegative
    trained_in_this_run: bool

    @model_validator(mode="after")
    def _shares(self) -> "MemorisationStats":
        if self.noisy_fit_perturbed + self.noisy_original_acc > 1 + RECOMPUTE_TOLERANCE:
            raise ValueError("noisy_fit_perturbed + noisy_original_acc exceed 1, but they are shares of the "
                             "same noisy examples with different labels")
        for i, stats in enumerate(self.epochs):
            for key, value in stats.items():
                if value is None:
                    continue
                if value < 0 or (key.endswith(("_acc", "_f1")) and value > 1):
                    bound = "in [0, 1]" if key.endswith(("_acc", "_f1")) else "non-negative"
                    raise ValueError(f"epochs.{i}.{key} is {value}; it must be {bound}")
        last = max((int(e["epoch"]) for e in self.epochs if e.get("epoch") is not None), default=None)
        if self.first_fit_epoch is not None and last is not None and self.first_fit_epoch > last:
            raise ValueError(f"first_fit_epoch is {self.first_fit_epoch}, but training recorded {last} epochs")
        return self


class MemorisationGuard(StrictRecord):
    """Did the memorising model memorise? Its noisy fit (perturbed labels) must reach
    ``min_noisy_fit`` while its clean twin's stays at most ``max_clean_twin_fit``; the leaderboard
    leaves out the results that fail."""

    memorised: bool
    noisy_fit: float
    clean_twin_fit: float
    min_noisy_fit: float
    max_clean_twin_fit: float
    epochs_trained: int | None = None
    reason: str | None = Field(None, description="why it did not count as memorised")
    derived: bool = Field(False, description="worked out on reading a result written without this block")


def memorisation_guard(stats: dict[str, MemorisationStats], guard: GuardConfig,
                       derived: bool = False) -> MemorisationGuard:
    mem, clean = stats["memorising"], stats["clean"]
    why = []
    if not mem.noisy_fit_perturbed >= guard.min_noisy_fit:
        why.append(f"noisy fit {mem.noisy_fit_perturbed:.2f} < {guard.min_noisy_fit:.2f}")
    if not clean.noisy_fit_perturbed <= guard.max_clean_twin_fit:
        why.append(f"clean twin's perturbed-label fit {clean.noisy_fit_perturbed:.2f} > {guard.max_clean_twin_fit:.2f}")
    return MemorisationGuard(memorised=not why, noisy_fit=mem.noisy_fit_perturbed,
                             clean_twin_fit=clean.noisy_fit_perturbed, min_noisy_fit=guard.min_noisy_fit,
                             max_clean_twin_fit=guard.max_clean_twin_fit,
                             epochs_trained=mem.epochs_trained if mem.epochs_trained is not None else len(mem.epochs),
                             reason="; ".join(why) or None, derived=derived)


