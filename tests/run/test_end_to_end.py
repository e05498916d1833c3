"""The whole path on real SST-2: noisy data, two trained models, layer swapping, result JSON,
leaderboard; then the same command again reuses everything from the store."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.results.run_result import Result

pytestmark = pytest.mark.slow


def _run(mirror, out, cache):
    args = ["run", "--method", "layer-swapping", "--task", "sst2", "--train-size", "64", "--epochs", "2",
            "--max-length", "32", "--data-dir", str(mirror), "--out", str(out), "--cache-dir", str(cache), "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    files = sorted(out.glob("*.json"))
    assert len(files) == 1
    return res.output, Result.model_validate(json.loads(files[0].read_text()))


def test_end_to_end_sst2(mirror, tmp_path):
    output, r = _run(mirror, tmp_path / "results", tmp_path / "cache")
    assert "M-CoG" in output and "layer" in output
    assert (r.task.name, r.model.name, r.method.name) == ("sst2", "minilm-l6", "layer-swapping")
    assert r.num_layers == 6 and len(r.layer_weights) == 6 and abs(sum(r.layer_weights) - 1) < 1e-9
    assert r.sizes["original_train_size"] == 6920 and r.sizes["effective_train_size"] == 64
    # 64 of 6920 (3310 neg / 3610 pos) -> 31 / 33 -> floor(0.15 n) = 4 + 4 noisy
    assert r.sizes["n_noisy"] == 8 and r.sizes["n_clean"] == 56
    assert len(r.details["windows"]) == 21
    assert r.config["data"]["train_size"] == 64 and r.config_hash == r.config_hash.lower()
    assert set(r.memorisation) == {"memorising", "clean"}
    assert len(r.memorisation["memorising"].epochs) == 2
    assert not any(r.cached.values())

    # same command again: nothing retrained, nothing recomputed, same profile
    _, again = _run(mirror, tmp_path / "results", tmp_path / "cache")
    assert all(again.cached.values())
    assert again.layer_weights == r.layer_weights and again.config_hash == r.config_hash

    res = CliRunner().invoke(main, ["leaderboard", "--results", str(tmp_path / "results"),
                                    "--submissions", str(tmp_path / "none"), "--figures", str(tmp_path / "fig"),
                                    "--out", str(tmp_path / "lb.md")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "lb.md").read_text()
    assert "[results.csv](results.csv)" in page
    import csv
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))  # every result, a row each
    assert [(x["model"], x["task"], x["method_or_analysis"], x["setup"], x["profile"], x["train_size"])
            for x in rows] == [("minilm-l6", "sst2", "layer-swapping", "standard", "cpu", "64")]
    assert float(rows[0]["mcog"]) == pytest.approx(r.mcog)
    figure = tmp_path / "fig" / "minilm-l6__layer-swapping__profiles.png"
    if r.memorisation_guard.memorised:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:  # 2 epochs on 64 rows rarely memorise: the guard lists the result and keeps it out of tables and figures
        assert "WARNING: NOT MEMORISED" in output
        assert "1 of 1 results are left out" in page and "| _sst2_ " in page and not figure.exists()
