"""A diverged training aborts with an error naming the run, and stores nothing (issue 11, item 4)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from memlocbench.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("batch_size,where", [
    ("4", "non-finite loss"),  # several steps per epoch: the loss of step 2 is NaN
    ("16", "non-finite"),  # one step per epoch: caught at the epoch's end (weights or outputs)
])
def test_huge_learning_rate_aborts_and_stores_nothing(mirror, tmp_path, batch_size, where):
    res = CliRunner().invoke(main, [
        "run", "--method", "layer-swapping", "--task", "sst2", "--train-size", "16", "--epochs", "1",
        "--batch-size", batch_size, "--max-length", "16", "--lr", "1e308", "--data-dir", str(mirror),
        "--out", str(tmp_path / "res"), "--cache-dir", str(tmp_path / "store"), "--quiet"])
    assert res.exit_code == 1, res.output
    msg = res.output
    assert "task sst2, model minilm-l6, role memorising: training diverged" in msg and where in msg
    assert "at epoch 1, step" in msg and "smaller learning rate" in msg and "Traceback" not in msg
    models = tmp_path / "store" / "models"
    assert not models.exists() or not any(models.iterdir())  # nothing stored, not even a temporary folder
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())  # no result
