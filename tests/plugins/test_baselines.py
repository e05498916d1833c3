"""The trivial baselines (issue 31): weight-delta finds exactly the layer or neuron whose weights differ,
whichever reference; the random baselines are reproducible and blind to the placement."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from memlocbench.errors import InvalidInputError
from memlocbench_methods import baselines
from tiny_models import tiny_bert


@pytest.fixture(scope="module")
def adapter():
    return tiny_bert("tiny-base")


def test_weight_delta_points_at_the_layer_that_moved(adapter):
    torch.manual_seed(0)
    twin = adapter.load_model(2)
    model = copy.deepcopy(twin)
    with torch.no_grad():
        model.bert.encoder.layer[1].attention.self.query.weight.add_(0.5)
    deltas = baselines.layer_deltas(adapter, model, twin, 3)
    assert deltas[0] == 0 and deltas[2] == 0 and deltas[1] > 0


def test_weight_delta_neurons_points_at_the_column_that_moved(adapter):
    torch.manual_seed(0)
    twin = adapter.load_model(2)
    model = copy.deepcopy(twin)
    with torch.no_grad():
        model.bert.encoder.layer[2].output.dense.weight[:, 5] += 1.0
    scores = baselines.neuron_deltas(adapter, model, twin)
    assert scores.shape == (3, 64) and scores.argmax().item() == 2 * 64 + 5 and float(scores.sum()) > 0


def test_an_unknown_reference_is_a_clear_error():
    ctx = SimpleNamespace(models=None)
    with pytest.raises(InvalidInputError, match="reference must be one of twin, pretrained"):
        baselines._reference(ctx, "weight-delta", "teacher")


def test_random_is_seeded_by_the_memorising_models_key():
    def ctx(key):
        return SimpleNamespace(num_layers=6, models=SimpleNamespace(key=lambda role: key))

    a, b = baselines.RandomLayers().localise(ctx("k1")), baselines.RandomLayers().localise(ctx("k1"))
    c = baselines.RandomLayers().localise(ctx("k2"))
    assert a.raw == b.raw and a.raw != c.raw and all(0 <= x < 1 for x in a.raw)


def test_baselines_form_their_own_suite(plugins):
    from memlocbench.api import suite_members

    assert suite_members(plugins, "baselines") == ["weight-delta", "weight-delta-pretrained", "weight-delta-neurons",
                                                   "weight-delta-neurons-pretrained", "random", "random-neurons"]
    assert plugins.methods.get("weight-delta-pretrained").defaults == {"reference": "pretrained"}
    assert not set(suite_members(plugins, "paper")) & {"random", "weight-delta"}
