"""A real package outside memlocbench, pip-installed into a temporary folder, adds a task, a
method and two analyses through the ``memlocbench`` entry-point group; ``list``, ``run`` and
``analyse`` use them (``tests/registry/test_plugin_metadata.py``: its declarations, without installing it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "plugin"  # build outside the repository
    shutil.copytree(REPO / "examples" / "memlocbench-example-plugin", source)
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    return {**os.environ, "PYTHONPATH": str(target)}


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "memlocbench.cli", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_list_shows_the_plugin_and_its_package(installed):
    tasks = _cli(installed, "list", "tasks")
    methods = _cli(installed, "list", "methods")
    assert tasks.returncode == 0 and methods.returncode == 0, tasks.stderr + methods.stderr
    assert "emotion-binary" in tasks.stdout and "memlocbench-example-plugin 0.1.0" in tasks.stdout
    assert "weight-change" in methods.stdout and "layer-swapping" in methods.stdout


def test_run_uses_the_plugin_task_and_method(installed, mirror, tmp_path):
    out = _cli(installed, "run", "--task", "emotion-binary", "--method", "weight-change",
               "--method", "layer-swapping", "--train-size", str(TINY["data"]["train_size"]),
               "--epochs", str(TINY["train"]["epochs"]), "--max-length", str(TINY["data"]["max_length"]),
               "--data-dir", str(mirror), "--out", str(tmp_path / "res"), "--cache-dir", str(tmp_path / "c"),
               "--quiet")
    assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "res").glob("*.json"))
    summaries = [p for p in files if p.name.endswith(".summary.json")]
    results = {json.loads(p.read_text())["method"]["name"]: json.loads(p.read_text())
               for p in files if p not in summaries}
    assert len(summaries) == 1  # two methods on the same models: one summary with both M-CoGs
    assert set(json.loads(summaries[0].read_text())["mcog"]) == {"weight-change", "layer-swapping"}
    assert set(results) == {"weight-change", "layer-swapping"}
    wc = results["weight-change"]
    assert wc["method"]["package"] == "memlocbench-example-plugin"
    assert wc["task"]["name"] == "emotion-binary" and wc["task"]["package"] == "memlocbench-example-plugin"
    assert len(wc["layer_weights"]) == 6 and all(x > 0 for x in wc["raw_weights"])


def test_analyse_uses_the_plugin_analysis(installed, mirror, tmp_path):
    listed = _cli(installed, "list", "analyses")
    assert listed.returncode == 0, listed.stderr
    line = next(l for l in listed.stdout.splitlines() if "noisy-fit" in l)
    assert "memlocbench-example-plugin 0.1.0" in line and "centroids" in listed.stdout
    out = _cli(installed, "analyse", "noisy-fit", "--task", "emotion-binary",
               "--train-size", str(TINY["data"]["train_size"]), "--epochs", str(TINY["train"]["epochs"]),
               "--max-length", str(TINY["data"]["max_length"]), "--data-dir", str(mirror),
               "--out", str(tmp_path / "res"), "--cache-dir", str(tmp_path / "c"), "--quiet")
    assert out.returncode == 0, out.stderr
    [path] = (tmp_path / "res").glob("*analysis-noisy-fit*.json")
    data = json.loads(path.read_text())
    assert data["analysis"]["package"] == "memlocbench-example-plugin"
    assert 0 <= data["summary"]["noisy_fit"] <= 1 and list(data["details"]["per_seed"]) == ["1"]
    checked = _cli(installed, "validate", str(path))
    assert checked.returncode == 0, checked.stderr

    # its location analysis (AnalysisInfo.measures), on the same models from the store
    out = _cli(installed, "analyse", "weight-change-layer", "--task", "emotion-binary",
               "--train-size", str(TINY["data"]["train_size"]), "--epochs", str(TINY["train"]["epochs"]),
               "--max-length", str(TINY["data"]["max_length"]), "--data-dir", str(mirror),
               "--out", str(tmp_path / "res"), "--cache-dir", str(tmp_path / "c"), "--quiet")
    assert out.returncode == 0, out.stderr
    [path] = (tmp_path / "res").glob("*analysis-weight-change-layer*.json")
    data = json.loads(path.read_text())
    top = data["details"]["per_seed"]["1"]
    assert 1 <= data["summary"]["top_layer"] == top["top_layer"] <= 6 and data["summary"]["top_layer_sd"] is None
    assert top["relative_l2"][top["top_layer"] - 1] == max(top["relative_l2"]) > 0
    checked = _cli(installed, "validate", str(path))
    assert checked.returncode == 0, checked.stderr
