"""A trained model's key sees what determines its weights (issue 33, key version 2): the model the
adapter builds (a changed architecture without a version bump trains anew), the torch thread count that
trains it (float sums differ between thread counts), and ``--epochs`` reaches the control models."""

from __future__ import annotations

import pytest
import torch

from memlocbench.data.noisy_dataset import build_noisy_dataset
from memlocbench.errors import InvalidInputError
from memlocbench.models.model_digest import describe_model, model_digest
from memlocbench.run.settings import profile_config
from memlocbench.store import ArtefactStore
from memlocbench.training import trained_models
from memlocbench.training.trained_models import TrainedModels, recipe_for
from tiny_models import tiny_bert


def _bert(hidden: int):
    return tiny_bert("tiny-keyed", hidden=hidden, layers=2)


@pytest.fixture(scope="module")
def dataset(mirror, plugins):
    adapter = _bert(32)
    config = profile_config("cpu", plugins=plugins, data={"train_size": 32, "max_length": 16})
    return build_noisy_dataset(plugins.tasks.get("sst2"), config.data, mirror,
                               adapter.separator(adapter.load_tokenizer())), config


def _models(store, adapter, dataset, config, **kw) -> TrainedModels:
    return TrainedModels(store, adapter, adapter.info.name, "sst2", 1, dataset, None, None, config,
                         progress=False, **kw)


def test_a_widened_model_without_a_version_bump_gets_new_keys(dataset, tmp_path):
    ds, config = dataset
    store = ArtefactStore(tmp_path)
    narrow, wide = _bert(32), _bert(64)
    assert narrow.info == wide.info  # same name, same version: only what they build differs
    assert _models(store, narrow, ds, config, threads=1).key("memorising") != \
        _models(store, wide, ds, config, threads=1).key("memorising")
    # the same model built twice is the same model
    assert _models(store, _bert(32), ds, config, threads=1).key("memorising") == \
        _models(store, narrow, ds, config, threads=1).key("memorising")


def test_the_digest_ignores_where_and_with_what_a_model_was_loaded():
    a, b = _bert(32), _bert(32)
    model_a, model_b = a.load_model(2), b.load_model(2)
    model_b.config._name_or_path = "/some/other/machine/folder"
    model_b.config.transformers_version = "0.0.1"
    assert describe_model(model_a) == describe_model(model_b)
    assert model_digest(a, 2) != model_digest(a, 3)  # the head's width is part of what is built


def test_the_digest_leaves_torchs_random_state_alone():
    adapter = _bert(32)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    model_digest(adapter, 2)
    assert torch.equal(torch.rand(3), expected)


def test_the_thread_count_is_part_of_the_key_and_trains(dataset, tmp_path, monkeypatch):
    ds, config = dataset
    store = ArtefactStore(tmp_path)
    adapter = _bert(32)
    one, two = _models(store, adapter, ds, config, threads=1), _models(store, adapter, ds, config, threads=2)
    assert one.key("memorising") != two.key("memorising")
    assert one.spec(recipe_for("memorising"))["cpu_threads"] == 1
    with pytest.raises(InvalidInputError, match="threads must be at least 1"):
        _models(store, adapter, ds, config, threads=0)
    # training runs with the thread count its key names, and the process's count is restored after
    seen = []
    real = trained_models.train_classifier

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise RuntimeError("stop after the thread count was seen")

    monkeypatch.setattr(trained_models, "train_classifier", spy)
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    models = _models(store, adapter, ds, config, threads=target)
    models.train_enc = object()  # not used: the spy stops first
    with pytest.raises(RuntimeError, match="stop after"):
        models.ensure("memorising")
    assert seen == [target] and torch.get_num_threads() == before
    assert real is not spy


def test_epochs_reach_the_control_models(plugins, dataset, tmp_path):
    ds, _ = dataset
    store, adapter = ArtefactStore(tmp_path), _bert(32)
    control = recipe_for("control-0-1")
    profile = _models(store, adapter, ds, profile_config("cpu", plugins=plugins), threads=1)
    assert profile._train_config(control).epochs == 14  # the cpu profile's control epochs
    given = _models(store, adapter, ds, profile_config("cpu", plugins=plugins, train={"epochs": 20}), threads=1)
    assert given._train_config(control).epochs == 20 and given._train_config(control).until_fit is None
    both = profile_config("cpu", plugins=plugins, train={"epochs": 20}, control={"epochs": 3})
    assert _models(store, adapter, ds, both, threads=1)._train_config(control).epochs == 3


def test_the_model_is_built_once_for_both_the_weights_and_the_keys(dataset, tmp_path):
    ds, config = dataset
    adapter = _bert(48)
    calls = []
    real = adapter.load_model

    def counted(num_labels):
        calls.append(num_labels)
        return real(num_labels)

    adapter.load_model = counted
    models = _models(ArtefactStore(tmp_path), adapter, ds, config, threads=1)
    models.pretrained()
    key = models.key("memorising")
    assert calls == [ds.num_labels]
    # the digest taken from the loaded model is the one a fresh build gives
    assert key == _models(ArtefactStore(tmp_path), _bert(48), ds, config, threads=1).key("memorising")


def test_the_sample_leaves_its_spare_rows_for_decoys_and_only_routed_layer_models_key_them(dataset, tmp_path):
    ds, config = dataset
    assert ds.train_size + len(ds.spare_train) == ds.original_train_size
    store = ArtefactStore(tmp_path)
    models = _models(store, _bert(32), ds, config)
    specs = {r: models.spec(recipe_for(r)) for r in ("routed-0-0", "routed-0-0-clean", "memorising", "planted-routed")}
    n_noisy = len(ds.noisy_idx)
    assert specs["routed-0-0"]["decoys"] == specs["routed-0-0-clean"]["decoys"] == {"rows": n_noisy, "version": 1}
    assert "decoys" not in specs["memorising"] and "decoys" not in specs["planted-routed"]
    # a routed twin trains as many epochs as its memorising model: its key names that model's
    assert specs["routed-0-0-clean"]["epochs_as"] == models.key("routed-0-0")
    assert models.spec(recipe_for("planted-routed-clean"))["epochs_as"] == models.key("planted-routed")
    assert not any("epochs_as" in specs[r] for r in ("routed-0-0", "memorising", "planted-routed"))
    assert "epochs_as" not in models.spec(recipe_for("clean"))


def test_whole_neuron_planting_routes_the_planted_rows_of_the_input_projections_and_is_keyed(dataset, tmp_path,
                                                                                             monkeypatch):
    from memlocbench.scoring import planted_neurons as planting

    ds, config = dataset
    adapter = _bert(32)
    models = _models(ArtefactStore(tmp_path), adapter, ds, config)
    recipe = recipe_for("planted-routed")
    model = models.pretrained()
    outputs_only, before = models._route(model, recipe), models.key("planted-routed")
    assert "whole_neurons" not in models.spec(recipe)["planted_neurons"]
    monkeypatch.setattr(planting, "ROUTED_WHOLE_NEURONS", True)
    whole = models._route(model, recipe)
    assert models.spec(recipe)["planted_neurons"]["whole_neurons"] is True and models.key("planted-routed") != before
    added = set(whole.masks) - set(outputs_only.masks)
    assert added == {f"bert.encoder.layer.{i}.intermediate.dense.{p}" for i in range(2) for p in ("weight", "bias")}
    planted, layers, width = models.planted_neurons(model, routed=True)
    for i in range(2):
        out_cols = outputs_only.masks[f"bert.encoder.layer.{i}.output.dense.weight"][0]
        rows = whole.masks[f"bert.encoder.layer.{i}.intermediate.dense.weight"][:, 0]
        assert torch.equal(rows, out_cols) and torch.equal(whole.masks[f"bert.encoder.layer.{i}.intermediate.dense.bias"], out_cols)
    assert set(added) <= whole.parameters


def test_a_planted_lr_scale_reaches_the_route_and_the_key(dataset, tmp_path, monkeypatch):
    from memlocbench.scoring import planted_neurons as planting

    ds, config = dataset
    models = _models(ArtefactStore(tmp_path), _bert(32), ds, config)
    recipe, model = recipe_for("planted-routed"), models.pretrained()
    before = models.key("planted-routed")
    assert models.spec(recipe)["planted_neurons"]["lr_scale"] == 1.0 and models._route(model, recipe).lr_scale == 1.0
    monkeypatch.setattr(planting, "ROUTED_PLANTED_LR_SCALE", 4.0)
    assert models._route(model, recipe).lr_scale == 4.0
    assert models.spec(recipe)["planted_neurons"]["lr_scale"] == 4.0 and models.key("planted-routed") != before
    assert models.spec(recipe_for("planted-neurons"))["planted_neurons"]["lr_scale"] == planting.PLANTED_LR_SCALE  # v3 as it was


def test_the_routed_layer_tracks_weight_their_noisy_examples_and_key_it(dataset, tmp_path, monkeypatch):
    from memlocbench.training import trained_models

    ds, config = dataset
    models = _models(ArtefactStore(tmp_path), _bert(32), ds, config)
    model = models.pretrained()
    w = trained_models.ROUTED_NOISY_WEIGHT
    assert w > 1  # the top placement fits in the minimum epochs only with the noisy examples weighted
    assert models._route(model, recipe_for("routed-1-1")).weight == w
    assert models._route(model, recipe_for("routed-1-1-clean")).weight == w  # the twin: the same routing
    assert models._route(model, recipe_for("planted-routed")).weight == 1.0  # planting keeps its own weight
    specs = {r: models.spec(recipe_for(r)) for r in ("routed-1-1", "routed-1-1-clean", "planted-routed", "memorising")}
    assert specs["routed-1-1"]["routed_noisy_weight"] == specs["routed-1-1-clean"]["routed_noisy_weight"] == w
    assert "routed_noisy_weight" not in specs["planted-routed"] and "routed_noisy_weight" not in specs["memorising"]
    before = models.key("routed-1-1")
    monkeypatch.setattr(trained_models, "ROUTED_NOISY_WEIGHT", 1.0)  # at 1: absent, as the keys before it
    assert "routed_noisy_weight" not in models.spec(recipe_for("routed-1-1")) and models.key("routed-1-1") != before


def test_a_routed_key_leaves_torchs_random_state_alone(dataset, tmp_path):
    ds, config = dataset
    models = _models(ArtefactStore(tmp_path), _bert(32), ds, config)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    models.key("routed-0-0")  # loads the pretrained model for its layer count
    assert torch.equal(torch.rand(3), expected)
