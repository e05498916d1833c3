"""The neuron ground-truth track (issue 15, part 4): planted neurons, the main task's gradient mask,
recall@k, results and leaderboard, and `memlocbench run --control-track planted` end to end."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import small_sst2_models
from memlocbench import hookimpl
from memlocbench.errors import InvalidInputError
from memlocbench.scoring.planted_neurons import (PLANTED_PERCENT, planted_count, planted_per_layer, random_recall,
                                         ranked_neurons, recall, sample_planted)
from memlocbench.contracts.protocols import LayerScores, MethodInfo
from memlocbench.results.run_result import neuron_control_score
from memlocbench.training.trained_models import PLANTED, recipe_for
from memlocbench.training.trainer import train_classifier


# -- planted neurons ---------------------------------------------------------------------------------
def test_planted_set_size_seeding_and_range():
    assert PLANTED_PERCENT == 1.0
    a = sample_planted(6, 1536, seed=1)
    assert len(a) == planted_count(6, 1536) == 92 == len(set(a))  # round(1% of 9216)
    assert a == sorted(a) and 0 <= a[0] and a[-1] < 6 * 1536
    assert a == sample_planted(6, 1536, seed=1)  # seeded: the same set again
    assert a != sample_planted(6, 1536, seed=2)
    assert len(sample_planted(2, 10, seed=0)) == 1  # at least one neuron


def test_planted_set_is_uniform_over_neurons_and_layers():
    from scipy.stats import chisquare

    # every one of 200 neurons equally likely: 3000 draws of 2 neurons -> 30 expected hits each
    hits = torch.zeros(200)
    for seed in range(3000):
        hits[sample_planted(4, 50, seed)] += 1
    assert chisquare(hits.numpy()).pvalue > 1e-3
    # layers of MiniLM-L6's shape: each holds 1/6 of the planted neurons on average
    per_layer = torch.tensor([planted_per_layer(sample_planted(6, 1536, s), 6, 1536) for s in range(300)],
                             dtype=torch.float64)
    assert chisquare(per_layer.sum(0).numpy()).pvalue > 1e-3
    # not all in one layer, ever (a bug drawing per layer or only from layer 0 would fail here)
    assert (per_layer > 0).sum(1).min() >= 4


# -- recall@k ---------------------------------------------------------------------------------------
def test_recall_known_answers():
    neurons = torch.zeros(2, 5)
    neurons[0, 3], neurons[1, 0], neurons[1, 4], neurons[0, 1] = 4.0, 3.0, 2.0, 1.0  # ranking: 3, 5, 9, 1
    assert ranked_neurons(neurons, 5) == [3, 5, 9, 1, 0]  # ties (all zeros) to the lower flat index
    planted = [1, 5]
    assert recall(ranked_neurons(neurons, 2), planted, 2) == 0.5  # top 2 = {3, 5}
    assert recall(ranked_neurons(neurons, 4), planted, 4) == 1.0
    assert random_recall(2, 10) == 0.2 and random_recall(4, 10) == 0.4
    s = neuron_control_score([0.1, 0.9], planted, 5, neurons=neurons)
    assert (s.recall_at_k, s.recall_at_2k, s.random_recall_at_k, s.random_recall_at_2k) == (0.5, 1.0, 0.2, 0.4)
    assert s.top == [3, 5, 9, 1] and s.planted_per_layer == [1, 1]
    assert (s.accuracy_at_1, s.chance) == (1.0, 1.0)  # both layers hold the most planted neurons


def test_layer_method_scored_by_its_top_layer():
    planted = [0, 6, 7, 8]  # width 5: layer 0 holds 1, layer 1 holds 3
    s = neuron_control_score([0.2, 0.5, 0.3], planted, 5, "lower-layer-first")
    assert s.top is None and s.recall_at_k is None and s.planted_per_layer == [1, 3, 0]
    assert (s.accuracy_at_1, s.chance) == (1.0, pytest.approx(1 / 3))
    assert neuron_control_score([0.5, 0.2, 0.3], planted, 5, "lower-layer-first").accuracy_at_1 == 0.0
    # ties follow the paper's code per method: layer swapping's tie goes to the higher layer
    assert neuron_control_score([0.5, 0.5, 0.0], planted, 5, "higher-layer-first").accuracy_at_1 == 1.0
    assert neuron_control_score([0.5, 0.5, 0.0], planted, 5, "lower-layer-first").accuracy_at_1 == 0.0


# -- roles, keys and the gradient mask ---------------------------------------------------------------
def test_roles_and_keys(plugins):
    from types import SimpleNamespace

    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore
    from memlocbench.training.trained_models import TrainedModels

    r = recipe_for(PLANTED)
    assert (r.labels, r.main_layers, r.aux, r.planted) == ("noisy", (), True, True)
    assert recipe_for(PLANTED + "-clean").labels == "clean"
    assert not any(recipe_for(x).planted for x in ("memorising", "clean", "classifier-only", "control-0-1",
                                                   "control-none"))
    cfg = profile_config("cpu")
    tm = TrainedModels(ArtefactStore("/nonexistent"), plugins.models.get("minilm-l6"), "minilm-l6", "sst2", 1,
                       SimpleNamespace(fingerprint=lambda: "f" * 64, num_labels=2), None, None, cfg,
                       providers={"task": {"package": "memlocbench", "version": "0.1.0"},
                                  "model": {"package": "memlocbench", "version": "0.1.0"}})
    keys = {role: tm.key(role) for role in ("memorising", "clean", "control-0-1", "control-none", PLANTED,
                                            PLANTED + "-clean")}
    assert len(set(keys.values())) == len(keys)
    # existing roles keep their keys: none of the neuron track's additions enters their spec
    assert all("planted_neurons" not in tm.spec(recipe_for(role)) for role in ("memorising", "control-0-1"))
    assert tm.spec(recipe_for(PLANTED))["planted_neurons"]["seed"] == cfg.train.seed
    # the model seed draws the planted set: another seed, another key
    assert tm.key(PLANTED) != _with_seed(tm, 2).key(PLANTED)


def _with_seed(tm, seed):
    import copy

    other = copy.copy(tm)
    other.config = tm.config.with_seed(seed)
    return other


@pytest.fixture(scope="module")
def small(plugins, mirror, tmp_path_factory):
    return small_sst2_models(plugins, mirror, tmp_path_factory.mktemp("n"), 8, 8)


def test_main_task_changes_only_the_planted_columns_and_the_head(small):
    """Main-task-only training (no auxiliary task) of the planted role: every parameter outside the
    head and the planted output-weight columns stays bit-identical, weight decay included."""
    from memlocbench.models.neuron_masks import ffn_projections

    adapter, data, enc, val, cfg, models = small
    assert cfg.train.weight_decay > 0  # the decay must be masked too
    start, model = models.pretrained(), models.pretrained()
    names = models.main_parameter_names(model, PLANTED)
    masks = models.main_masks(model, PLANTED)
    train_classifier(model, names, enc, data.noisy_labels, data.noisy_idx, data.clean_idx, val,
                     data.validation.labels, cfg.train, progress=False, main_masks=masks)
    planted, num_layers, width = models.planted_neurons(model)
    assert planted == sample_planted(6, 1536, cfg.train.seed)
    columns = {}
    for layer, (proj, proj0) in enumerate(zip(ffn_projections(adapter, model), ffn_projections(adapter, start))):
        columns[id(proj.weight)] = (layer, proj0.weight)
    before = dict(start.named_parameters())
    head_changed, planted_changed = False, 0
    for name, p in model.named_parameters():
        if adapter.parameter_group(name) == "head":
            head_changed |= not torch.equal(p, before[name])
        elif id(p) in columns:
            layer, w0 = columns[id(p)]
            mine = [i - layer * width for i in planted if i // width == layer]
            keep = torch.ones(width, dtype=torch.bool)
            keep[mine] = False
            assert torch.equal(p[:, keep], w0[:, keep]), name  # bit-identical outside the planted columns
            planted_changed += sum(not torch.equal(p[:, j], w0[:, j]) for j in mine)
        else:
            assert torch.equal(p, before[name]), name
    assert head_changed and planted_changed == len(planted)


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_the_planted_columns_train_at_their_own_learning_rate(small, scale):
    """One AdamW step (no warmup) moves an entry by about its learning rate (bias-corrected first step:
    lr * g / (|g| + eps)), so the planted columns' largest move is ``scale`` times the head's."""
    from memlocbench.models.neuron_masks import ffn_projections

    adapter, data, enc, val, cfg, models = small
    train = cfg.train.model_copy(update={"warmup_fraction": 0.0, "batch_size": len(data.noisy_labels)})
    start, model = models.pretrained(), models.pretrained()
    names = models.main_parameter_names(model, PLANTED)
    masks = models.main_masks(model, PLANTED)
    train_classifier(model, names, enc, data.noisy_labels, data.noisy_idx, data.clean_idx, val,
                     data.validation.labels, train, progress=False, main_masks=masks, main_mask_lr_scale=scale)
    planted_move = max((p.weight - p0.weight).abs().max().item()
                       for p, p0 in zip(ffn_projections(adapter, model), ffn_projections(adapter, start)))
    before = dict(start.named_parameters())
    head_move = max((p - before[n]).abs().max().item() for n, p in model.named_parameters()
                    if adapter.parameter_group(n) == "head")
    assert head_move == pytest.approx(train.learning_rate, rel=0.02)
    assert planted_move == pytest.approx(scale * train.learning_rate, rel=0.02)


def test_a_planted_learning_rate_scale_must_be_positive(small):
    adapter, data, enc, val, cfg, models = small
    model = models.pretrained()
    with pytest.raises(ValueError, match="main_mask_lr_scale"):
        train_classifier(model, models.main_parameter_names(model, PLANTED), enc, data.noisy_labels, data.noisy_idx,
                         data.clean_idx, val, data.validation.labels, cfg.train, progress=False,
                         main_masks=models.main_masks(model, PLANTED), main_mask_lr_scale=0.0)


def test_without_the_mask_the_same_training_moves_other_columns(small):
    """The check above can fail: the planted parameters' other columns move without the mask."""
    adapter, data, enc, val, cfg, models = small
    start, model = models.pretrained(), models.pretrained()
    names = models.main_parameter_names(model, PLANTED)
    masked = set(models.main_masks(model, PLANTED))
    train_classifier(model, names, enc, data.noisy_labels, data.noisy_idx, data.clean_idx, val,
                     data.validation.labels, cfg.train, progress=False)
    before = dict(start.named_parameters())
    assert all(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in masked)


# -- end to end through the CLI ------------------------------------------------------------------------
class _WeightDiff:
    """A test neuron method: how far each neuron's output weights moved between the clean twin and the
    memorising model (the planted columns are where the two main tasks differ most)."""

    info = MethodInfo(name="weight-diff", description="test: |output-weight change|", granularity="neuron")

    def localise(self, ctx):
        from memlocbench.scoring.layer_weights import neuron_layer_shares
        from memlocbench.models.neuron_masks import ffn_projections

        mem, clean = ctx.models.load("memorising"), ctx.models.load("clean")
        diff = torch.stack([(a.weight - b.weight).norm(dim=0) for a, b in
                            zip(ffn_projections(ctx.adapter, mem), ffn_projections(ctx.adapter, clean))]).detach()
        return LayerScores(raw=neuron_layer_shares(diff, 1.0), details={"top_percent": 1.0}, neurons=diff)


class _Uniformish:
    info = MethodInfo(name="last-layer", description="test: a layer method favouring the last layer")

    def localise(self, ctx):
        return LayerScores(raw=[float(i + 1) for i in range(ctx.num_layers)])


class _NoFFN:
    """MiniLM-L6 behind an adapter that does not say where its feed-forward neurons are."""

    def __init__(self, inner):
        self._inner = inner
        self.info = inner.info.model_copy(update={"name": "minilm-no-ffn"})

    def __getattr__(self, name):
        if name == "ffn_projections":
            raise AttributeError(name)
        return getattr(self._inner, name)


class _TestPlugin:
    def __init__(self, adapter):
        self.adapter = adapter

    @hookimpl
    def register_methods(self, register):
        register(_WeightDiff())
        register(_Uniformish())

    @hookimpl
    def register_models(self, register):
        register(_NoFFN(self.adapter))


@pytest.fixture
def cli(plugins, monkeypatch):
    """The CLI with the test plugin loaded and the cpu profile's control section made tiny."""
    from click.testing import CliRunner

    import memlocbench.cli.app as cli_module
    from memlocbench.config import profiles
    from memlocbench.registry import Provider, load_plugins

    extra = load_plugins(extra=[(_TestPlugin(plugins.models.get("minilm-l6")), Provider("neuron-test-pkg", "1"))])
    monkeypatch.setattr(cli_module, "cli_plugins", lambda: extra)
    tiny = profiles.PROFILES["cpu"].model_copy(update={"control": profiles.ControlConfig(aux_train_size=32, epochs=3)})
    monkeypatch.setitem(profiles.PROFILES, "cpu", tiny)

    def invoke(*args):
        return CliRunner().invoke(cli_module.main, [str(a) for a in args])
    return invoke


def _args(mirror, tmp_path, *more, task="sst2"):
    return ["run", "--task", task, "--model", "minilm-l6", "--train-size", 64, "--max-length", 32,
            "--epochs", 2, "--batch-size", 16, "--learning-rate", 3e-4, "--seed", 1, "--data-dir", mirror,
            "--cache-dir", tmp_path / "store", "--out", tmp_path / "out", "--quiet", *more]


@pytest.mark.slow
def test_cli_neuron_track_end_to_end_and_from_the_store(cli, mirror, tmp_path):
    from conftest import installed_render as render
    from memlocbench.leaderboard.collect import Collected, Entry
    from memlocbench.results.run_result import read_result

    args = _args(mirror, tmp_path, "--method", "weight-diff", "--method", "last-layer", "--control-track", "planted")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert "recall@92" in first.output and "top layer holds the most planted neurons" in first.output
    paths = sorted((tmp_path / "out").glob("*__planted-neurons__*.json"))
    assert [p.name.split("__")[2] for p in paths] == ["last-layer", "weight-diff"]
    layer, neuron = (read_result(p) for p in paths)
    planted = sample_planted(6, 1536, 1)
    for r in (layer, neuron):
        assert r.control.track == "planted" and r.control.planted == planted
        assert (r.memorisation["memorising"].role, r.memorisation["clean"].role) == (PLANTED, PLANTED + "-clean")
    assert layer.control.top is None and layer.control.recall_at_k is None
    c = neuron.control
    assert c.random_recall_at_k == pytest.approx(92 / 9216)
    # the planted columns are where the two models' main tasks differ: far above random
    assert c.recall_at_k > 0.5, c.recall_at_k
    summary = json.loads(next((tmp_path / "out").glob("*planted-neurons-summary*.json")).read_text())
    assert summary["control_track"] == "planted"
    assert summary["control_accuracy"]["weight-diff"]["recall_at_k"] == pytest.approx(c.recall_at_k)
    assert "recall_at_k" not in summary["control_accuracy"]["last-layer"]

    second = cli(*args)  # everything from the store
    assert second.exit_code == 0, second.output
    again = read_result(next((tmp_path / "out").glob("sst2__minilm-l6__weight-diff__planted-neurons__*.json")))
    assert all(again.cached.values()) and again.control == neuron.control

    checked = cli("validate", *paths)  # what a submission would check
    assert checked.exit_code == 0, checked.output

    # a tampered recall is caught on reading
    bad = json.loads(paths[1].read_text())
    bad["control"]["recall_at_k"] = 1.0 if c.recall_at_k < 1 else 0.0
    with pytest.raises(ValueError, match="recall_at_k"):
        type(neuron).model_validate(bad)
    bad = json.loads(paths[1].read_text())
    bad["control"]["planted"][0] += 1
    with pytest.raises(ValueError, match="planted"):
        type(neuron).model_validate(bad)

    # the leaderboard counts memorised results only; these tiny models need not memorise, so mark them
    def counted(r):
        return r.model_copy(update={"memorisation_guard": r.memorisation_guard.model_copy(update={"memorised": True})})
    md = render(Collected(entries=[Entry("sub", counted(layer)), Entry("sub", counted(neuron))]))
    section = md.split("## Neuron ground truth")[1].split("\n## ")[0]
    assert "weight-diff" in section and "n/a (layer method)" in section and f"{c.recall_at_k:.3f}" in section


def test_cli_bad_input(cli, mirror, tmp_path):
    out = cli(*_args(mirror, tmp_path, "--method", "weight-diff", "--control-track", "planted", "--model",
                     "minilm-no-ffn"))
    assert out.exit_code == 2 and "'minilm-no-ffn'" in out.output and "ffn_projections" in out.output, out.output
    assert not (tmp_path / "store" / "models").exists() or not any((tmp_path / "store" / "models").iterdir())
    out = cli(*_args(mirror, tmp_path, "--method", "weight-diff", "--control-track", "neurons", task="rte"))
    assert out.exit_code == 2 and "auxiliary task" in out.output  # the old name still works, with a warning
    assert "--control-track neurons is deprecated; use --control-track planted" in out.output
    out = cli(*_args(mirror, tmp_path, "--method", "weight-diff", "--control-track", "neuron"))
    assert out.exit_code == 2 and "planted" in out.output


def test_neuron_track_has_no_placements():
    from memlocbench.run.method_run import model_setups
    from memlocbench.run.settings import profile_config

    cfg = profile_config("cpu")
    assert model_setups("sst2", cfg, 6, True, track="planted") == [
        ({"memorising": PLANTED, "clean": PLANTED + "-clean", "classifier-only": "control-none"}, None)]
    with pytest.raises(InvalidInputError, match="no layer placements"):
        model_setups("sst2", cfg, 6, True, placements=[(0, 1)], track="planted")
