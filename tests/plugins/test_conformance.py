"""memlocbench.testing's conformance checks on every built-in plugin and the example plugin, and on
broken plugins, which each check must reject with a message saying what is wrong."""

from __future__ import annotations

import json
import os
import random
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO, single_thread
from tiny_models import ARCHS, tokenizer_dirs  # noqa: F401  (fixture)
from tiny_models import tiny_adapter as _adapter
from task_file_fixtures import csv_task, sst2_rows  # noqa: F401  (fixture)

from memlocbench.contracts.protocols import LayerScores, MethodInfo, TaskMetadata
from memlocbench.contracts.task_data import Examples, TaskData
from memlocbench.data.task_file import task_from_file
from memlocbench.registry import Provider, load_plugins
from memlocbench.testing import check_executor, check_method, check_model_adapter, check_task, tiny_method_context
from memlocbench_models.bert import BertAdapter
from memlocbench_tasks.catalogue import ALL_TASKS

TASKS = {t.metadata.name: t for t in ALL_TASKS}
EXAMPLE = REPO / "examples" / "memlocbench-example-plugin"


def _offline(task, mirror) -> bool:
    """Whether the local mirror holds every split the task reads."""
    meta = task.metadata
    folder = mirror / (meta.mirror_folder or meta.name)
    return all((folder / f"{split}.jsonl").is_file() for split in meta.splits.values())


# -- tasks ----------------------------------------------------------------------------------------

def test_eleven_catalogue_tasks_have_mirror_data(mirror):
    assert len(TASKS) == 12
    assert sorted(n for n, t in TASKS.items() if not _offline(t, mirror)) == ["boolq"]  # its train split is hub-only


@pytest.mark.parametrize("name", sorted(TASKS))
def test_catalogue_tasks_conform(mirror, name):
    if not _offline(TASKS[name], mirror):
        pytest.skip(f"the local mirror lacks splits of {name}")
    data = check_task(TASKS[name], mirror)
    assert len(data.train) > len(data.validation) > 0


def test_a_task_file_conforms(tmp_path, sst2_rows):  # noqa: F811
    check_task(task_from_file(csv_task(tmp_path, sst2_rows)), None)


class _Task:
    """A task whose data come from ``make(seed)``; the metadata of a 2-class, ``fields``-field task."""

    def __init__(self, make, fields=("text",)):
        self.make = make
        self.metadata = TaskMetadata(name="broken", description="x", hub_id="x", splits={"train": "train"},
                                     text_fields=fields, label_field="label", label_names=("a", "b"),
                                     license="x", citation="x", version=1)

    def load(self, data_dir, seed, separator):
        return self.make(seed, separator)


def _data(train=(("fine", 0), ("good", 1)), validation=(("ok", 1),), test=(("yes", 0),)) -> TaskData:
    return TaskData(*(Examples([t for t, _ in s], [y for _, y in s]) for s in (train, validation, test)))


@pytest.mark.parametrize("task,problem", [
    (_Task(lambda seed, sep: _data(train=(("fine", 0), ("odd", 2)))), "train split: 1 bad example(s), e.g. label 1 is 2"),
    (_Task(lambda seed, sep: _data(train=(("fine", 0), ("odd", True)))), "label 1 is True, not an integer"),
    (_Task(lambda seed, sep: _data(validation=())), "the validation split is empty"),
    (_Task(lambda seed, sep: _data(test=(("  ", 0),))), "test split: 1 bad example(s), e.g. text 0 is '  '"),
    (_Task(lambda seed, sep: _data(), fields=("a", "b")), "does not hold the separator '[SEP]'"),
    (_Task(lambda seed, sep: _data(train=((f"t{random.random()}", 0),))), "two loads with data seed 1 differ in the "
                                                                          "train split"),
    (_Task(lambda seed, sep: {"train": []}), "load returned a dict, not a TaskData"),
    (SimpleNamespace(metadata={"name": "x"}, load=None), "its metadata is a dict, not a TaskMetadata"),
])
def test_check_task_rejects_broken_tasks(task, problem):
    with pytest.raises(AssertionError) as info:
        check_task(task, None)
    assert problem in str(info.value)


# -- model adapters -------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.mark.parametrize("arch", ARCHS)
def test_builtin_adapters_conform_on_tiny_random_models(tokenizer_dirs, arch):  # noqa: F811
    check_model_adapter(_adapter(arch, tokenizer_dirs))


@pytest.mark.parametrize("change", [{"do_layer_norm_before": False}, {"use_parallel_residual": False}],
                         ids=["opt-post-norm", "gpt-neox-serial"])
def test_builtin_adapters_conform_in_their_variants(tokenizer_dirs, change):  # noqa: F811
    adapter = _adapter("opt" if "do_layer_norm_before" in change else "gpt-neox", tokenizer_dirs)
    for key, value in change.items():
        setattr(adapter._config, key, value)
    check_model_adapter(adapter)


def test_the_offline_default_model_conforms(plugins):
    check_model_adapter(plugins.models.get("minilm-l6"))


class _UnseededHead(BertAdapter):
    def fix_model(self, model):
        gen = torch.Generator().manual_seed(random.randrange(2**31))  # not torch's global generator
        with torch.no_grad():
            model.classifier.weight.normal_(0, 0.02, generator=gen)
        return model


class _LayersAsHead(BertAdapter):
    def parameter_group(self, name):
        group = super().parameter_group(name)
        return "head" if group == 2 else group


class _UpProjection(BertAdapter):
    _ffn_out_path = "intermediate.dense"


class _PreNormClaim(BertAdapter):
    def ffn_output_norms(self, model):
        return [None] * len(self.layer_modules(model))  # BERT is post-norm: wrong


@pytest.mark.parametrize("cls,problem", [
    (_UnseededHead, "classifier.weight differs between two load_model calls after torch.manual_seed(1)"),
    (_LayersAsHead, "parameter_group('bert.encoder.layer.2.attention.self.query.weight') is 'head', but it is a "
                    "parameter of layer 2"),
    (_UpProjection, "ffn_projections[0].weight has shape (64, 32); a down-projection"),
    (_PreNormClaim, "layer 0's output with neurons zeroed is not its output + change of the down-projection's "
                    "output, as ffn_output_norms[0] = NoneType declares"),
])
def test_check_model_adapter_rejects_broken_adapters(cls, problem):
    tiny = _adapter("bert", {"vocab": 0})
    adapter = cls(name="tiny-bert", hub_id="tests/tiny-bert", description="x", source=tiny._source, config=tiny._config)
    with pytest.raises(AssertionError) as info:
        check_model_adapter(adapter)
    assert problem in str(info.value)


# -- methods --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_context(tmp_path_factory):
    """One tiny trained run (a 3-layer BERT, 32 wide, 64 neurons a layer; its models train in about a
    second, as test_models' tiny pipelines do, so these tests are not marked slow) shared by every method."""
    return tiny_method_context(_adapter("bert", {"vocab": 0}), tmp_path_factory.mktemp("tiny-run"))


@pytest.mark.parametrize("name", ["activations", "gradient-attribution", "hard-concrete", "integrated-gradients",
                                  "layer-retraining", "layer-swapping", "probing", "slimming", "zero-out",
                                  "weight-delta", "weight-delta-neurons", "random", "random-neurons"])
def test_builtin_methods_conform(plugins, tiny_context, name):
    method = plugins.methods.get(name)
    scores = check_method(method, tiny_context)
    if method.info.granularity == "neuron":
        assert tuple(scores.neurons.shape) == (3, 64)
    assert len(scores.raw) == 3


class _Returns:
    def __init__(self, scores, granularity="layer", extra=()):
        self.scores = scores
        self.info = MethodInfo(name="broken", description="x", granularity=granularity, extra_models=extra)

    def localise(self, ctx):
        return self.scores(ctx)


@pytest.mark.parametrize("method,problem", [
    (_Returns(lambda ctx: LayerScores(raw=[1.0, float("nan"), 1.0])), "returned nan as the weight of layer 2"),
    (_Returns(lambda ctx: LayerScores(raw=[1.0, 1.0])), "returned 2 layer weights for a 3-layer model"),
    (_Returns(lambda ctx: LayerScores(raw=[1.0, -1.0, 1.0])), "returned -1.0 as the weight of layer 2"),
    (_Returns(lambda ctx: LayerScores(raw=[1.0] * 3, details={"model": object()})), "not JSON-serialisable"),
    (_Returns(lambda ctx: LayerScores(raw=[1.0] * 3), "neuron"), "is a neuron method but returned no neuron scores"),
    (_Returns(lambda ctx: LayerScores(raw=[1.0] * 3, neurons=torch.ones(3, 32)), "neuron"), "shape (3, 32)"),
    (_Returns(lambda ctx: [1.0] * 3), "returned list, not LayerScores"),
    (_Returns(lambda ctx: LayerScores(raw=[1.0] * 3), extra=("teacher",)), "extra_models names 'teacher'"),
])
def test_check_method_rejects_broken_methods(tiny_context, method, problem):
    with pytest.raises(AssertionError) as info:
        check_method(method, tiny_context)
    assert problem in str(info.value)


def test_method_parameters_reach_the_method(plugins, tiny_context):
    scores = check_method(plugins.methods.get("hard-concrete"), tiny_context, {"top_percent": 10.0})
    assert scores.details["top_percent"] == 10.0


# -- the example plugin ---------------------------------------------------------------------------

@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import memlocbench_example

    yield memlocbench_example
    sys.modules.pop("memlocbench_example", None)


def test_example_plugin_task_conforms(example, mirror):
    plugins = load_plugins(extra=[(example, Provider("memlocbench-example-plugin", "0.1.0"))])
    assert not [f for f in plugins.failures if "example" in f] and "emotion-binary" in plugins.tasks.names()
    check_task(plugins.tasks.get("emotion-binary"), mirror)


def test_example_plugin_method_conforms(example, tiny_context):
    scores = check_method(example.WeightChange(), tiny_context)
    assert all(x > 0 for x in scores.raw)  # the memorising model moved away from its clean twin in every layer


# -- executors ------------------------------------------------------------------------------------

GRID = {"tasks": ["sst2"], "methods": ["layer-swapping"]}


@pytest.mark.slow
def test_local_executor_conforms(plugins, mirror, tmp_path):
    # a work folder that does not exist yet is created
    report = check_executor(plugins.executors.get("local"), tmp_path / "new" / "work", data_dir=mirror, **GRID)
    assert report.count("done") == 3  # memorising, clean, layer swapping


@pytest.mark.slow
def test_ray_executor_conforms(plugins, mirror, tmp_path):
    pytest.importorskip("ray")
    report = check_executor(plugins.executors.get("ray"), tmp_path, data_dir=mirror, **GRID)
    assert report.count("done") == 3 and os.getpid() not in {o["pid"] for o in report.outcomes.values()}


class _SaysDone:
    name, description = "says-done", "reports every unit done without running it"

    def execute(self, units, options, report):
        for unit in units:
            json.dumps(unit)
            report({"id": unit["id"], "status": "done", "seconds": 0.0})


@pytest.mark.slow
def test_check_executor_rejects_an_executor_that_does_not_run_units(mirror, tmp_path):
    # the driver finds the units' artefacts missing from the store and fails them (a unit reported done
    # whose artefact is not there has failed), so the outcomes already differ from local's
    with pytest.raises(AssertionError, match=r"unit outcomes differ from the local executor's \(local, under test\)"
                                             r".*train memorising': \('done', 'failed'\)"):
        check_executor(_SaysDone(), tmp_path, data_dir=mirror, **GRID)
