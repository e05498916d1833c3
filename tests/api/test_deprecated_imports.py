"""Plugins written against the 0.1 import paths still load and run, and every old name warns with its
new import (``from memlocbench.api import ...``). The shims stay for at least one release."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import warnings

import pytest

import memlocbench.api as api

OLD_PATHS = {
    "memlocbench.protocols": ["TaskMetadata", "ModelInfo", "MethodInfo", "AnalysisInfo", "Task", "ModelAdapter",
                              "LocalisationMethod", "Executor", "Analysis", "LayerScores", "AnalysisOutput"],
    "memlocbench.data.task_data": ["Examples", "TaskData"],
    "memlocbench.data.hub_task": ["HubTask"],
    "memlocbench.method_context": ["MethodContext"],
    "memlocbench.analysis_context": ["AnalysisContext"],
}


@pytest.mark.parametrize("module,name", [(m, n) for m, names in OLD_PATHS.items() for n in names])
def test_old_name_warns_and_is_the_public_object(module, name):
    old = importlib.import_module(module)
    with pytest.warns(DeprecationWarning) as caught:
        obj = getattr(old, name)
    assert obj is getattr(api, name)
    message = str(caught[0].message)
    assert f"{module}.{name}" in message and f"from memlocbench.api import {name}" in message
    # the warning points at the importing code, not at the shim
    assert caught[0].filename == __file__


def test_unknown_old_name_is_an_attribute_error():
    old = importlib.import_module("memlocbench.protocols")
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        old.Nope  # noqa: B018


def test_core_and_built_in_plugins_use_no_old_path():
    """Loading every built-in plugin through its entry point warns nothing: only third-party code on the
    old paths sees the deprecation."""
    from memlocbench.registry import load_plugins

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        plugins = load_plugins()
    assert "layer-swapping" in plugins.methods.names()


OLD_PLUGIN = textwrap.dedent('''
    import torch

    from memlocbench import hookimpl
    from memlocbench.protocols import AnalysisInfo, AnalysisOutput, LayerScores, MethodInfo, TaskMetadata
    from memlocbench.data.task_data import Examples, TaskData
    from memlocbench.data.hub_task import HubTask
    from memlocbench.method_context import MethodContext
    from memlocbench.analysis_context import AnalysisContext


    class OldSST2(HubTask):
        """SST-2 from the mirror, re-declared through the old paths, first 40 characters of each text."""

        def load(self, data_dir, seed, separator) -> TaskData:
            data = super().load(data_dir, seed, separator)
            cut = lambda ex: Examples([t[:40] for t in ex.texts], list(ex.labels))
            return TaskData(cut(data.train), cut(data.validation), cut(data.test))


    class OldNorms:
        info = MethodInfo(name="old-norms", description="memorising model's per-layer weight norm")

        def localise(self, ctx: MethodContext) -> LayerScores:
            model = ctx.models.load("memorising")
            raw = [0.0] * ctx.num_layers
            for name, p in model.named_parameters():
                group = ctx.adapter.parameter_group(name)
                if isinstance(group, int):
                    raw[group] += float(torch.linalg.vector_norm(p.detach()))
            return LayerScores(raw=raw)


    class OldCount:
        info = AnalysisInfo(name="old-count", description="noisy examples per seed", uses_models=False)

        def analyse(self, ctx: AnalysisContext) -> AnalysisOutput:
            return AnalysisOutput(summary={"n_noisy": float(len(ctx.dataset.noisy_idx))})


    @hookimpl
    def register_tasks(register):
        register(OldSST2(TaskMetadata(
            name="old-sst2", description="SST-2 through the old import paths", hub_id="yerevann/sst2",
            mirror_folder="sst2", splits={"train": "train", "evaluation": "validation"},
            text_fields=("sentence",), label_field="label", label_names=("negative", "positive"),
            license="unknown", citation="Socher et al. (2013)", version=1)))


    @hookimpl
    def register_methods(register):
        register(OldNorms())


    @hookimpl
    def register_analyses(register):
        register(OldCount())
''')


@pytest.fixture
def old_plugin(tmp_path, monkeypatch):
    (tmp_path / "old_style_plugin.py").write_text(OLD_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("old_style_plugin", None)
    with pytest.warns(DeprecationWarning) as caught:
        module = importlib.import_module("old_style_plugin")
    warned = {str(w.message).split(" is deprecated")[0] for w in caught}
    assert warned == {f"{m}.{n}" for m, n in [
        ("memlocbench.protocols", "AnalysisInfo"), ("memlocbench.protocols", "AnalysisOutput"),
        ("memlocbench.protocols", "LayerScores"), ("memlocbench.protocols", "MethodInfo"),
        ("memlocbench.protocols", "TaskMetadata"), ("memlocbench.data.task_data", "Examples"),
        ("memlocbench.data.task_data", "TaskData"), ("memlocbench.data.hub_task", "HubTask"),
        ("memlocbench.method_context", "MethodContext"), ("memlocbench.analysis_context", "AnalysisContext")]}
    yield module
    sys.modules.pop("old_style_plugin", None)


@pytest.mark.slow
def test_plugin_on_old_paths_loads_and_runs(old_plugin, mirror, tmp_path):
    from memlocbench.run.settings import profile_config
    from memlocbench.registry import Provider, load_plugins
    from memlocbench.results.run_result import Result
    from memlocbench.run.analysis_run import AnalysisRequest, analyse
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.store import ArtefactStore

    plugins = load_plugins(extra=[(old_plugin, Provider("old-style-plugin", "0.0.1"))])
    assert {"old-sst2"} <= set(plugins.tasks.names()) and "old-norms" in plugins.methods.names()
    config = profile_config("cpu", data={"train_size": 48, "max_length": 24}, train={"epochs": 1, "batch_size": 16})
    store = ArtefactStore(tmp_path / "store")
    out = run(plugins, RunRequest(task="old-sst2", model="minilm-l6", methods=["old-norms"], config=config,
                                  data_dir=mirror, out_dir=tmp_path / "results", store=store, progress=False),
              log=lambda *_: None)
    result = Result.model_validate(json.loads(out.paths[0].read_text()))
    assert (result.task.name, result.method.name) == ("old-sst2", "old-norms")
    assert len(result.layer_weights) == 6 and abs(sum(result.layer_weights) - 1) < 1e-9
    assert result.method.package == "old-style-plugin"

    analysed, _ = analyse(plugins, AnalysisRequest(analysis="old-count", task="old-sst2", model="minilm-l6",
                                                   config=config, seeds=[1], data_dir=mirror,
                                                   out_dir=tmp_path / "results", store=store, progress=False),
                          log=lambda *_: None)
    assert analysed.summary["n_noisy"] > 0
