"""The training loop's until-fit guard (``trainer.UntilFitGuard``): when training stops, with and
without ``train_until_fit``. The trained weights it leads to are checked end to end in test_compute.py
and test_end_to_end.py."""

from __future__ import annotations

import pytest

from memlocbench.config.profiles import TrainConfig, TrainUntilFit
from memlocbench.training.trainer import UntilFitGuard


def _cfg(epochs: int, until: TrainUntilFit | None) -> TrainConfig:
    return TrainConfig(seed=1, epochs=epochs, learning_rate=1e-4, batch_size=16, until_fit=until)


def test_without_until_fit_it_stops_after_epochs_and_never_waits():
    guard = UntilFitGuard(_cfg(3, None))
    assert (guard.budget, guard.stop_at, guard.waiting) == (3, 3, False)
    guard.observe(1, 1.0, True)
    assert guard.stop_at == 3 and guard.fit_epoch is None


@pytest.mark.parametrize("epochs,max_epochs,extra,fit_at,stop_at", [
    (8, 30, 1, 2, 8),    # fitted early: still at least `epochs`
    (8, 30, 1, 12, 13),  # fitted late: `extra` epochs more
    (8, 30, 3, 29, 30),  # never beyond the budget
    (8, 5, 1, 8, 8),     # max_epochs below epochs: the budget is `epochs`
])
def test_the_first_fit_moves_the_stop(epochs, max_epochs, extra, fit_at, stop_at):
    guard = UntilFitGuard(_cfg(epochs, TrainUntilFit(max_epochs=max_epochs, extra_epochs=extra, noisy_fit=0.9)))
    assert guard.budget == max(max_epochs, epochs) and guard.stop_at == guard.budget and guard.waiting
    for epoch in range(1, fit_at):
        guard.observe(epoch, 0.89, True)  # below the criterion: the stop stays at the budget
        assert guard.stop_at == guard.budget and guard.waiting
    guard.observe(fit_at, 0.9, True)
    assert (guard.fit_epoch, guard.stop_at, guard.waiting) == (fit_at, stop_at, False)
    guard.observe(fit_at + 1, 1.0, True)  # only the first fit counts
    assert (guard.fit_epoch, guard.stop_at) == (fit_at, stop_at)


def test_no_noisy_examples_count_as_fitted_at_once():
    guard = UntilFitGuard(_cfg(2, TrainUntilFit(max_epochs=10, extra_epochs=1, noisy_fit=0.9)))
    guard.observe(1, float("nan"), False)
    assert (guard.fit_epoch, guard.stop_at) == (1, 2)


def test_stop_after_keeps_the_schedule_and_ignores_the_criterion():
    """A routed twin: as many epochs as its memorising model, on the same (until-fit) schedule."""
    cfg = _cfg(8, TrainUntilFit(max_epochs=30, extra_epochs=1, noisy_fit=0.9))
    guard = UntilFitGuard(cfg, stop_after=27)
    assert (guard.budget, guard.stop_at, guard.waiting) == (30, 27, False)  # the schedule spans 30 epochs
    guard.observe(3, 1.0, True)
    assert guard.stop_at == 27 and guard.fit_epoch is None
    assert UntilFitGuard(cfg, stop_after=5).stop_at == 5  # below `epochs` too: the memorising model's count rules
    for bad in (0, 31):
        with pytest.raises(ValueError, match="stop_after must be between 1 and the schedule's 30 epochs"):
            UntilFitGuard(cfg, stop_after=bad)
