"""Defects of issue 33's hostile probe in the run and analysis pipelines: settings that hung or overflowed
in preflight (D11), method outputs that overflowed after they were cached, detail keys the store cannot
hold, methods that raised or exited (D18), analysis outputs cached before they were checked (D19),
parameters checked only after training (D20), task data and model shapes checked only after training
(D21), and a misspelt plural (D29). None of these tests trains a model."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from memlocbench import hookimpl
from memlocbench.cli import main
from memlocbench.contracts.protocols import (AnalysisInfo, AnalysisOutput, LayerScores, MethodInfo, TaskMetadata)
from memlocbench.contracts.task_data import Examples, TaskData
from memlocbench.errors import (InvalidDataError, InvalidInputError, MemlocbenchError, MethodOutputError,
                                UnknownNameError)
from memlocbench.registry import Provider, load_plugins
from memlocbench.store import ArtefactStore


def _bounded(args: list[str], seconds: float, env: dict | None = None):
    """``python args`` in a subprocess: its CompletedProcess, or None if it ran past ``seconds`` (then it is
    killed): a hang fails the test instead of hanging the suite."""
    try:
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=seconds,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return None


# -- D11: vanishing noise fractions ---------------------------------------------------------------------------------

_PREFLIGHT = """
import sys
from memlocbench.run.preflight import check_noisy_examples
from memlocbench.errors import InvalidInputError

class NoNoise:
    noisy_idx = []
    original_labels = [0] * 30 + [1] * 34
    label_names = ("negative", "positive")
    train_size = 64
    original_train_size = 6920

try:
    check_noisy_examples(NoNoise(), float(sys.argv[1]), 64)
except InvalidInputError as exc:
    print("InvalidInputError:", exc)
"""


@pytest.mark.parametrize("noise", ["1e-300", "5e-324", "1e-18"])
def test_a_vanishing_noise_fraction_is_a_prompt_clear_error(noise):
    proc = _bounded(["-c", _PREFLIGHT, noise], 60)
    assert proc is not None, f"check_noisy_examples({noise}) did not return within 60 s"
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    message = proc.stdout
    assert message.startswith("InvalidInputError: ") and f"with noise {float(noise):g}" in message
    assert "--noise of at least 0.03" in message and len(message) < 600  # no 300-digit class sizes


def test_min_class_size_is_exact_and_bounded():
    proc = _bounded(["-c", "from memlocbench.run.preflight import min_class_size as m\n"
                           "print([m(f) for f in (0.15, 0.01, 1 / 3, 0.1, 0.3, 0.5, 0.999, 1e-9, 1e-300, 5e-324)])"],
                    60)
    assert proc is not None, "min_class_size did not return within 60 s"
    assert proc.returncode == 0, proc.stderr[-2000:]
    sizes = eval(proc.stdout)  # noqa: S307 - our own subprocess' list of ints
    for f, n in zip((0.15, 0.01, 1 / 3, 0.1, 0.3, 0.5, 0.999, 1e-9), sizes):
        assert math.floor(f * n) >= 1 and math.floor(f * (n - 1)) < 1, f
    assert sizes[-2:] == [None, None]


@pytest.mark.parametrize("noise", ["1e-300", "5e-324"])
def test_run_with_a_vanishing_noise_fails_before_training(mirror, tmp_path, noise):
    args = ["-m", "memlocbench.cli", "run", "--method", "layer-swapping", "--task", "sst2", "--train-size", "32",
            "--epochs", "1", "--max-length", "16", "--noise", noise, "--data-dir", str(mirror), "--out",
            str(tmp_path / "res"), "--cache-dir", str(tmp_path / "store"), "--quiet"]
    proc = _bounded(args, 240, env={"OMP_NUM_THREADS": "1"})
    assert proc is not None, f"run --noise {noise} did not finish within 240 s"
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no training example would get a perturbed label" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "store" / "models").exists()


# -- D18: method outputs, method failures ---------------------------------------------------------------------------

def test_weights_whose_sum_overflows_are_rejected_before_caching():
    from memlocbench.run.method_run import check_method_output

    with pytest.raises(MethodOutputError, match=r"method 'm' \(package pkg\).*sum to inf"):
        check_method_output(LayerScores(raw=[1e308, 1e308, 0.0]), 3, "m", "pkg")
    check_method_output(LayerScores(raw=[1e308, 0.0, 1.0]), 3, "m", "pkg")  # a finite sum is fine
    check_method_output(LayerScores(raw=[5e-324, 5e-324, 0.0]), 3, "m", "pkg")  # so are subnormal weights


@pytest.mark.parametrize("details,where", [
    ({1: "a"}, "in details"), ({"per_layer": {2: 0.5}}, "in details.per_layer"),
    ({"rows": [{"ok": 1}, {(1, 2): 3}]}, "in details.rows[1]"),
])
def test_non_string_detail_keys_are_rejected_naming_the_method(details, where):
    from memlocbench.run.method_run import check_method_output

    with pytest.raises(MethodOutputError) as exc:
        check_method_output(LayerScores(raw=[1.0, 2.0], details=details), 2, "m", "pkg")
    assert "method 'm' (package pkg)" in str(exc.value) and where in str(exc.value)
    assert "must be a string" in str(exc.value)


class _Method:
    """A method whose ``localise`` does what ``behaviour`` says."""

    def __init__(self, name, behaviour):
        self.info = MethodInfo(name=name, description="a probe's method")
        self.behaviour = behaviour

    def localise(self, ctx):
        return self.behaviour()


class _MethodPlugin:
    def __init__(self, methods):
        self.methods = methods

    @hookimpl
    def register_methods(self, register):
        for m in self.methods:
            register(m)


class _Models:
    """The few members of TrainedModels that ``layer_scores`` reads (no model is ever trained)."""
    device, threads, aliases = "cpu", 1, {}

    def key(self, role):
        return f"{role}-key"


def _scores_call(tmp_path, behaviour, name="probe-method"):
    """``layer_scores`` of a method that does ``behaviour``, on a 3-layer stand-in; returns a callable and
    the store."""
    from memlocbench.run.method_run import RunInputs, RunRequest, layer_scores
    from memlocbench.run.settings import profile_config

    method = _Method(name, behaviour)
    plugins = load_plugins(extra=[(_MethodPlugin([method]), Provider("probe-pkg", "0.1"))], entry_points=False,
                           task_files=False)
    store = ArtefactStore(tmp_path / "store")
    req = RunRequest(task="t", model="m", methods=[name], config=profile_config("cpu"), store=store, progress=False)
    prep = RunInputs(task=SimpleNamespace(metadata=SimpleNamespace(name="t")), adapter=None, tokenizer=None,
                     dataset=None, train_enc=None, models=_Models(), num_layers=3, data_seconds=0.0, plugins=plugins)
    return (lambda: layer_scores(req, prep, prep.models, plugins.methods.get(name))), store


def _entries(store, kind="layer-scores"):
    folder = store.root / kind
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []


def test_an_overflowing_output_is_not_cached(tmp_path):
    call, store = _scores_call(tmp_path, lambda: LayerScores(raw=[1e308, 1e308, 1e308]))
    with pytest.raises(MethodOutputError, match="probe-method"):
        call()
    assert _entries(store) == []


def test_a_cached_output_that_cannot_be_normalised_is_recomputed(tmp_path):
    """An entry cached before outputs were checked this far (1e308 x 3) is quarantined, not served."""
    from memlocbench.run.method_run import layer_scores_spec
    from memlocbench.run.settings import profile_config
    from memlocbench.errors import StoreWarning

    call, store = _scores_call(tmp_path, lambda: LayerScores(raw=[1.0, 2.0, 3.0]))
    spec = layer_scores_spec(_Method("probe-method", None), profile_config("cpu"), _Models(),
                             {"package": "probe-pkg", "version": "0.1"})
    key = store.key(spec)
    store.put("layer-scores", key, {"spec": spec, "raw": [1e308] * 3, "details": {}, "num_layers": 3})
    with pytest.warns(StoreWarning, match="invalid"):
        scores, cached = call()
    assert not cached and scores.raw == [1.0, 2.0, 3.0]
    again, cached = call()
    assert cached and again.raw == [1.0, 2.0, 3.0]


def _raise(exc):
    raise exc


@pytest.mark.parametrize("behaviour,expected", [
    (lambda: _raise(ValueError("cannot score layer 2")), "ValueError: cannot score layer 2"),
    (lambda: _raise(SystemExit(3)), "called sys.exit(3)"),
    (lambda: _raise(KeyError("w")), "KeyError: 'w'"),
])
def test_a_failing_method_is_named_with_its_package(tmp_path, behaviour, expected):
    from memlocbench.errors import PluginFailedError

    call, store = _scores_call(tmp_path, behaviour)
    with pytest.raises(PluginFailedError) as exc:
        call()
    message = str(exc.value)
    assert "method 'probe-method' (package probe-pkg 0.1)" in message and expected in message
    assert "localise" in message and " at " in message  # where it raised
    assert isinstance(exc.value, MemlocbenchError) and _entries(store) == []


def test_keyboard_interrupt_in_a_method_still_interrupts(tmp_path):
    call, _ = _scores_call(tmp_path, lambda: _raise(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        call()


# -- D19: analysis outputs ------------------------------------------------------------------------------------------

class _Analysis:
    """An analysis that reads no model (nothing is trained) and returns ``output()``."""

    defaults: dict = {}

    def __init__(self, output):
        self.info = AnalysisInfo(name="probe-analysis", description="a probe's analysis", uses_models=False)
        self.output = output
        self.calls = 0

    def analyse(self, ctx):
        self.calls += 1
        return self.output()


class _AnalysisPlugin:
    def __init__(self, analysis):
        self.analysis = analysis

    @hookimpl
    def register_analyses(self, register):
        register(self.analysis)


def _analysis_request(mirror, tmp_path, name="probe-analysis", params=None):
    from memlocbench.run.analysis_run import AnalysisRequest
    from memlocbench.run.settings import profile_config

    cfg = profile_config("cpu", data={"train_size": 32, "max_length": 16}, train={"epochs": 1},
                         analyses={name: params} if params is not None else None)
    return AnalysisRequest(name, "sst2", "minilm-l6", cfg, seeds=[1], data_dir=mirror, out_dir=tmp_path / "res",
                           store=ArtefactStore(tmp_path / "store"), progress=False)


def test_an_invalid_analysis_output_is_never_cached(mirror, tmp_path):
    from memlocbench.errors import AnalysisOutputError
    from memlocbench.run.analysis_run import analyse

    good = AnalysisOutput(summary={"x": 0.5, "y": None}, details={"per_seed": {"1": [1.0]}})
    outputs = [AnalysisOutput(summary={"x": float("nan")}), good]
    analysis = _Analysis(lambda: outputs.pop(0))
    plugins = load_plugins(extra=[(_AnalysisPlugin(analysis), Provider("probe-pkg", "0.1"))])
    req = _analysis_request(mirror, tmp_path)
    with pytest.raises(AnalysisOutputError) as exc:
        analyse(plugins, req, log=lambda m: None)
    assert "analysis 'probe-analysis' (package probe-pkg 0.1)" in str(exc.value) and "summary.x" in str(exc.value)
    assert _entries(req.store, "analysis-outputs") == []
    result, _ = analyse(plugins, req, log=lambda m: None)  # the rerun computes it afresh, and it is fine
    assert result.summary == {"x": 0.5, "y": None} and not result.cached and analysis.calls == 2


@pytest.mark.parametrize("output,problem", [
    (AnalysisOutput(summary={"x": float("inf")}), "summary.x"),
    (AnalysisOutput(summary={"x": "high"}), "summary.x"),
    (AnalysisOutput(summary={1: 0.5}), "summary key 1"),
    (AnalysisOutput(summary={"x": 1.0}, details={"curve": [1.0, float("nan")]}), "non-finite"),
    (AnalysisOutput(summary={"x": 1.0}, details={"by_layer": {3: 1.0}}), "details.by_layer has the key 3"),
    ({"x": 1.0}, "not AnalysisOutput"),
])
def test_analysis_output_problems_are_named(output, problem):
    from memlocbench.errors import AnalysisOutputError
    from memlocbench.run.analysis_run import check_analysis_output

    with pytest.raises(AnalysisOutputError, match="nothing was cached") as exc:
        check_analysis_output(output, "analysis 'a'")
    assert problem in str(exc.value)


def test_a_cached_nan_analysis_output_is_recomputed(mirror, tmp_path, monkeypatch):
    """A store written before outputs were checked holds a NaN summary: it is quarantined and recomputed,
    so the rerun does not fail forever."""
    from memlocbench.errors import StoreWarning
    from memlocbench.run import analysis_run

    analysis = _Analysis(lambda: AnalysisOutput(summary={"x": 0.25}))
    plugins = load_plugins(extra=[(_AnalysisPlugin(analysis), Provider("probe-pkg", "0.1"))])
    req = _analysis_request(mirror, tmp_path)
    first = analysis_run.compute_analysis(plugins, req, log=lambda m: None)
    entry = req.store.path("analysis-outputs", first.key)
    spec = req.store.meta("analysis-outputs", first.key)["spec"]
    import shutil

    shutil.rmtree(entry)
    req.store.put("analysis-outputs", first.key, {"spec": spec, "summary": {"x": float("nan")}, "details": {}})
    with pytest.warns(StoreWarning, match="summary.x"):
        result, _ = analysis_run.analyse(plugins, req, log=lambda m: None)
    assert result.summary == {"x": 0.25} and not result.cached and analysis.calls == 2


# -- D20: parameters before any work -------------------------------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Any data loading or training fails the test: parameters must be checked before."""
    from memlocbench.run import analysis_run, method_run

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the parameters were checked")

    monkeypatch.setattr(method_run, "prepare", refuse)
    monkeypatch.setattr(analysis_run, "prepare", refuse)


@pytest.mark.parametrize("analysis,param,problem", [
    ("centroids", "bogus=1", "has no parameter(s) bogus; valid: feature_batch_size, percentiles, threshold"),
    ("centroids", "percentiles=[150, 12.5]", "percentiles must be two numbers in [0, 100]"),
    ("centroids", "percentiles=[50]", "percentiles must be two numbers"),
    ("centroids", "feature_batch_size=0", "feature_batch_size must be >= 1, got 0"),
    ("probing-events", "batch_size=0", "batch_size must be >= 1"),
    ("probing-events", "dropout=1", "dropout must be in [0, 1)"),
    ("probing-events", "split=[0.7, 0.4, 0.2]", "split must be three fractions"),
    ("neuron-ablation", 'methods=["../../x"]', "methods names '../../x', which is no registered method"),
    ("neuron-ablation", 'methods=["slimmming"]', "did you mean 'slimming'?"),
    ("neuron-ablation", "batch_size=0", "batch_size must be >= 1"),
    ("neuron-ablation", "budgets=[150]", "budgets are percentages"),
    ("memorisation-map", "fraction=1", "fraction must be in (0, 1)"),
])
def test_bad_analysis_parameters_fail_before_any_work(mirror, tmp_path, no_work, analysis, param, problem):
    res = CliRunner().invoke(main, ["analyse", analysis, "--task", "sst2", "--train-size", "32", "--epochs", "1",
                                    "--max-length", "16", "--data-dir", str(mirror), "--cache-dir",
                                    str(tmp_path / "store"), "--out", str(tmp_path / "r"), "--param", param, "--quiet"])
    assert res.exit_code == 2, res.output
    assert problem in res.output and f"analysis {analysis!r}" in res.output
    assert "Traceback" not in res.output and "work started" not in res.output


@pytest.mark.parametrize("method,params,problem", [
    ("layer-swapping", {"eval_batch_size": "many"}, "method 'layer-swapping': parameter eval_batch_size='many'"),
    ("layer-swapping", {"eval_batch_size": 0}, "method 'layer-swapping': eval_batch_size must be >= 1, got 0"),
    ("gradient-attribution", {"batch_size": 0}, "method 'gradient-attribution': batch_size must be >= 1"),
    ("probing", {"dropout": 1.0}, "method 'probing': dropout must be in [0, 1)"),
    ("slimming", {"lr": 0}, "method 'slimming': lr must be positive"),
    ("zero-out", {"bogus": 1}, "method 'zero-out' has no parameter(s) bogus; valid: n_noisy, neuron_chunk"),
])
def test_bad_method_parameters_fail_before_any_work(mirror, tmp_path, no_work, method, params, problem):
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.run.settings import profile_config

    cfg = profile_config("cpu", methods={method: params})
    req = RunRequest(task="sst2", model="minilm-l6", methods=[method], config=cfg, data_dir=mirror,
                     out_dir=tmp_path / "r", store=ArtefactStore(tmp_path / "store"), progress=False)
    with pytest.raises(InvalidInputError) as exc:
        run(load_plugins(), req, log=lambda m: None)
    assert problem in str(exc.value)


def test_a_plugins_check_params_gets_the_merged_parameters_and_the_registered_names(mirror, tmp_path, no_work):
    seen = []

    class Checked(_Analysis):
        defaults = {"k": 1, "names": ["activations"]}

        @staticmethod
        def check_params(params, registered):
            seen.append((params, registered))
            return [f"k must be odd, got {params['k']}"] if params["k"] % 2 == 0 else []

    plugins = load_plugins(extra=[(_AnalysisPlugin(Checked(lambda: None)), Provider("probe-pkg", "0.1"))])
    from memlocbench.run.analysis_run import compute_analysis

    with pytest.raises(InvalidInputError, match=r"analysis 'probe-analysis': k must be odd, got 2"):
        compute_analysis(plugins, _analysis_request(mirror, tmp_path, params={"k": 2}))
    params, registered = seen[0]
    assert params == {"k": 2, "names": ["activations"]}
    assert "zero-out" in registered["method"] and "sst2" in registered["task"] and "probe-analysis" in registered["analysis"]


# -- D21: task data and model shapes before training ---------------------------------------------------------------

class _Task:
    """A Python task whose ``load`` returns what the test gives it."""

    def __init__(self, data):
        self.metadata = TaskMetadata(name="probe-task", description="d", hub_id=None, splits={"train": "train"},
                                     text_fields=("text",), label_field="label", label_names=("a", "b"),
                                     license="x", citation="y", version=1)
        self.data = data

    def load(self, data_dir, seed, separator):
        return self.data


def _split(n=20, texts=None, labels=None):
    return Examples(texts or [f"text {i}" for i in range(n)], labels or [i % 2 for i in range(n)])


@pytest.mark.parametrize("data,problem", [
    (TaskData(_split(texts=[float("nan")] + [f"t{i}" for i in range(19)]), _split(), _split()),
     "train example 0 with the text nan (float)"),
    (TaskData(_split(), _split(), _split(texts=["ok"] * 19 + [None])), "test example 19 with the text None"),
    (TaskData(_split(labels=["a", "b"] * 10), _split(), _split()), "train example 0 with the label 'a' (str)"),
    (TaskData(_split(), _split(labels=[0, 1, 2] + [0] * 17), _split()), "validation example 2 with the label 2"),
    (TaskData(_split(), _split(labels=[True] * 20), _split()), "validation example 0 with the label True"),
    (TaskData(_split(), Examples([], []), _split()), "an empty validation split"),
])
def test_task_data_of_the_wrong_shape_is_a_clear_error_before_training(data, problem):
    from memlocbench.config.profiles import DataConfig
    from memlocbench.data.noisy_dataset import build_noisy_dataset

    with pytest.raises(InvalidDataError) as exc:
        build_noisy_dataset(_Task(data), DataConfig(), None, "[SEP]")
    assert "task 'probe-task'" in str(exc.value) and problem in str(exc.value)


def _layered_adapter(count, declared=None):
    from tiny_models import tiny_adapter

    adapter = tiny_adapter("bert", {"vocab": 0})
    if declared is not None:
        adapter.info = adapter.info.model_copy(update={"num_layers": declared})
    real = adapter.layer_modules
    adapter.layer_modules = lambda model: (list(real(model)) * 1000)[:count]
    return adapter


@pytest.mark.parametrize("count,declared,problem", [
    (0, None, "has 0 layers"), (2000, None, "has 2000 layers"),
    (3, 4, "declares 4 layers (ModelInfo.num_layers), but its adapter's layer_modules gives 3"),
])
def test_a_model_of_no_or_too_many_layers_fails_before_training(mirror, tmp_path, monkeypatch, count, declared,
                                                                 problem):
    from tiny_models import TinyModels

    from memlocbench.run.method_run import RunRequest, prepare
    from memlocbench.run.settings import profile_config
    from memlocbench.training.trained_models import TrainedModels

    monkeypatch.setattr(TrainedModels, "ensure", lambda *a, **k: pytest.fail("a model was trained"))
    plugins = load_plugins(extra=[(TinyModels([_layered_adapter(count, declared)]), Provider("tiny", "0"))])
    req = RunRequest(task="sst2", model="tiny-bert", methods=[], store=ArtefactStore(tmp_path / "store"),
                     config=profile_config("cpu", data={"train_size": 32, "max_length": 16}, train={"epochs": 1}),
                     data_dir=mirror, out_dir=tmp_path / "r", progress=False)
    with pytest.raises(InvalidInputError) as exc:
        prepare(plugins, req)
    assert "model 'tiny-bert'" in str(exc.value) and problem in str(exc.value)


# -- D29 ------------------------------------------------------------------------------------------------------------

def test_unknown_analysis_names_list_the_valid_analyses_in_plain_english():
    message = str(UnknownNameError("analysis", "centroid", ["centroids", "neuron-ablation"]))
    assert "Valid analyses: centroids, neuron-ablation." in message and "analysiss" not in message
    assert "Valid tasks:" in str(UnknownNameError("task", "x", ["sst2"]))
