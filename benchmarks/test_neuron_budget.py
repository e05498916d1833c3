"""Issue 15's budget: every neuron method must finish on SST-2 (``cpu`` profile) within the time layer
retraining takes on the same models. Both are timed here in one run, on the real memorising model and
clean twin of ``memlocbench run --task sst2 --train-size 300 --seed 1``, each method computing from
scratch through ``pipeline.run`` (a scratch store holding only those two models). The models are taken
from the store at $MEMLOCBENCH_CACHE_DIR (``memlocbench run --method layer-swapping --task sst2
--train-size 300 --seed 1`` trains them, about 3 minutes); without them the benchmark is skipped.
The ratio of each method's ``timings.method`` to layer retraining's is printed and kept in
``extra_info``. Run alone (about 4 minutes): ``.venv/bin/pytest benchmarks/test_neuron_budget.py -s``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from memlocbench.run.method_run import RunRequest, prepare, run
from memlocbench.registry import load_plugins
from memlocbench.run.settings import profile_config
from memlocbench.store import ArtefactStore

NEURON_METHODS = ["zero-out", "activations", "integrated-gradients", "slimming", "hard-concrete"]


def _request(plugins, store: ArtefactStore, out: Path, method: str) -> RunRequest:
    data = Path(os.environ.get("MEMLOCBENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    cfg = profile_config("cpu", data={"train_size": 300}, train={"seed": 1})
    return RunRequest(task="sst2", model="minilm-l6", methods=[method], config=cfg, data_dir=data, out_dir=out,
                      store=store, progress=False)


def test_neuron_methods_within_layer_retraining_time(benchmark, tmp_path):
    source = os.environ.get("MEMLOCBENCH_CACHE_DIR")
    plugins = load_plugins()
    if not source:
        pytest.skip("set MEMLOCBENCH_CACHE_DIR to a store holding the SST-2 models")
    models = prepare(plugins, _request(plugins, ArtefactStore(source), tmp_path / "out", "zero-out")).models
    keys = [models.key(role) for role in ("memorising", "clean")]
    if not all(models.store.has("models", k) for k in keys):
        pytest.skip("the store has no SST-2 models for --train-size 300 --seed 1")
    scratch = ArtefactStore(tmp_path / "store")
    for k in keys:
        shutil.copytree(Path(source) / "models" / k, tmp_path / "store" / "models" / k)

    def seconds(method: str) -> float:
        result = run(plugins, _request(plugins, scratch, tmp_path / "out", method), log=lambda *a: None).results[0]
        assert not result.cached["method"] and result.cached["memorising"] and result.cached["clean"]
        return result.timings["method"]

    budget = benchmark.pedantic(seconds, args=("layer-retraining",), rounds=1, iterations=1)
    ratios = {m: seconds(m) / budget for m in NEURON_METHODS}
    benchmark.extra_info.update({"layer_retraining_s": budget, **{f"{m}_ratio": r for m, r in ratios.items()}})
    print(f"\nlayer retraining {budget:.1f} s; " + ", ".join(f"{m} x{r:.2f}" for m, r in ratios.items()))
    assert all(r > 0 for r in ratios.values())
