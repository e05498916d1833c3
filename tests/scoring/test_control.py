"""The control setup: memorisation forced into known layers, and the classifier-only model."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import REPO, small_sst2_models
from memlocbench.errors import InvalidInputError
from memlocbench.run.method_run import RunRequest, control_score, run
from memlocbench.run.settings import profile_config
from memlocbench.store import ArtefactStore
from memlocbench.training.trained_models import KIND, control_placements, recipe_for
from memlocbench.training.trainer import train_classifier


@pytest.mark.parametrize("L,expected", [
    (6, [(0, 1), (2, 3), (4, 5)]),
    (12, [(0, 1), (5, 6), (10, 11)]),
    (24, [(0, 1), (11, 12), (22, 23)]),
])
def test_placements_first_middle_last_two(L, expected):
    assert control_placements(L) == expected


def test_roles():
    r = recipe_for("control-5-6")
    assert (r.labels, r.main_layers, r.aux) == ("noisy", (5, 6), True)
    assert recipe_for("control-5-6-clean").labels == "clean"
    assert recipe_for("classifier-only").main_layers == () and not recipe_for("classifier-only").aux
    with pytest.raises(InvalidInputError, match="valid: memorising"):
        recipe_for("control-6-5")


def test_control_score():
    s = control_score([0.1, 0.4, 0.3, 0.2], (1, 2))
    assert (s.accuracy_at_1, s.accuracy_at_2, s.chance) == (1.0, 1.0, 0.5)
    s = control_score([0.4, 0.3, 0.2, 0.1], (1, 2))
    assert (s.accuracy_at_1, s.accuracy_at_2) == (0.0, 0.5)


# -- tie rules: chosen by the method (MethodInfo.tie_rule), recorded in the result, checked on read ----
TIED = [0.1, 0.1, 0.3, 0.1, 0.3, 0.1]  # layers 2 and 4 tie at the top; placement (2, 3)


def test_control_score_ranks_tied_layers_by_the_tie_rule_and_records_it():
    lower = control_score(TIED, (2, 3), "lower-layer-first")
    higher = control_score(TIED, (2, 3), "higher-layer-first")
    assert (lower.accuracy_at_1, lower.accuracy_at_2, lower.true_layer_rank, lower.tie_rule) == \
        (1.0, 0.5, 1, "lower-layer-first")
    assert (higher.accuracy_at_1, higher.accuracy_at_2, higher.true_layer_rank, higher.tie_rule) == \
        (0.0, 0.5, 2, "higher-layer-first")
    assert control_score(TIED, (2, 3)).tie_rule == "lower-layer-first"  # the default, as MethodInfo's
    with pytest.raises(InvalidInputError, match="unknown tie rule 'some-method'; valid: lower-layer-first, "
                                                "higher-layer-first"):
        control_score(TIED, (2, 3), "some-method")


#: a committed result (written before the tie rule was recorded) whose two top layers tie: only the
#: lower-layer-first rule reproduces its accuracy@2
UNRECORDED = REPO / "leaderboard/submissions/memlocbench-cpu-baseline/sst2__minilm-l6__probing__control-4-5__9e6adc65440b.json"


def _control_result(**control) -> dict:
    data = json.loads(UNRECORDED.read_text())
    data["control"].update(control)
    return data


def test_results_without_a_recorded_tie_rule_validate_under_the_rule_that_reproduces_them():
    from memlocbench.results.run_result import Result, control_accuracy

    data = _control_result()
    assert "tie_rule" not in data["control"]
    profile, placement = data["profile"], data["control"]["placement"]
    assert control_accuracy(profile, placement, False) != control_accuracy(profile, placement, True)  # a tie
    assert Result.model_validate(data).control.tie_rule is None
    higher = control_accuracy(profile, placement, True)  # the other rule's numbers validate too
    assert Result.model_validate(_control_result(accuracy_at_1=higher[0], accuracy_at_2=higher[1]))
    with pytest.raises(ValueError, match=r"control.accuracy_at_2 is 0.0, but the profile and the placement give "
                                         r"0.5 \(under either tie rule\)"):
        Result.model_validate(_control_result(accuracy_at_2=0.0))


def test_a_recorded_tie_rule_is_the_one_the_scores_are_checked_under():
    from memlocbench.results.run_result import Result

    assert Result.model_validate(_control_result(tie_rule="lower-layer-first")).control.tie_rule == "lower-layer-first"
    with pytest.raises(ValueError, match=r"control.accuracy_at_2 is 0.5, but the profile and the placement give "
                                         r"1.0 \(under tie rule higher-layer-first\)"):
        Result.model_validate(_control_result(tie_rule="higher-layer-first"))
    with pytest.raises(ValueError, match="tie_rule"):
        Result.model_validate(_control_result(tie_rule="layer-swapping"))


@pytest.fixture(scope="module")
def small(plugins, mirror, tmp_path_factory):
    return small_sst2_models(plugins, mirror, tmp_path_factory.mktemp("c"), 8, 16)


def _groups(adapter, before, after):
    changed = {}
    for name, p in after.named_parameters():
        g = adapter.parameter_group(name)
        changed.setdefault(g, []).append(not torch.equal(p, dict(before.named_parameters())[name]))
    return {g: any(v) for g, v in changed.items()}, {g: all(v) for g, v in changed.items()}


@pytest.mark.parametrize("role,trained_layers", [("control-2-3", {2, 3}), ("classifier-only", set())])
def test_without_auxiliary_only_the_placement_layers_and_head_change(small, role, trained_layers):
    adapter, data, enc, val, cfg, models = small
    start = models.pretrained()
    model = models.pretrained()
    names = models.main_parameter_names(model, role)
    train_classifier(model, names, enc, data.noisy_labels, data.noisy_idx, data.clean_idx, val,
                     data.validation.labels, cfg.train, progress=False)
    any_changed, _ = _groups(adapter, start, model)
    assert any_changed["head"] and not any_changed["embeddings"]
    for layer in range(6):
        assert any_changed[layer] == (layer in trained_layers), layer
    # untouched layers are bit-identical, not merely close
    for name, p in model.named_parameters():
        g = adapter.parameter_group(name)
        if isinstance(g, int) and g not in trained_layers:
            assert torch.equal(p, dict(start.named_parameters())[name])


@pytest.mark.slow
def test_with_auxiliary_every_layer_trains_and_noisy_examples_are_fitted(plugins, mirror, tmp_path):
    cfg = profile_config("cpu", data={"train_size": 48, "max_length": 32},
                       train={"epochs": 2, "batch_size": 8, "learning_rate": 3e-4},
                       control={"aux_train_size": 32, "epochs": 6})
    req = RunRequest(task="sst2", model="minilm-l6", methods=["layer-swapping"], config=cfg, data_dir=mirror,
                     out_dir=tmp_path / "res", store=ArtefactStore(tmp_path / "c"),
                     progress=False, control=True)
    out = run(plugins, req, log=lambda m: None)
    assert [r.control.placement for r in out.results] == [[0, 1], [2, 3], [4, 5]]
    assert len(set(out.paths)) == 3 and all(p.is_file() for p in out.paths)  # one file per placement
    assert out.summary.control and set(out.summary.control_accuracy) == {"layer-swapping"}
    for r in out.results:
        mem = r.memorisation["memorising"]
        assert mem.role == f"control-{r.control.placement[0]}-{r.control.placement[1]}"
        assert mem.noisy_fit_perturbed >= 0.8, (mem.role, mem.noisy_fit_perturbed)
        assert len(mem.epochs) == 6  # control models train for the control section's epochs, not train.epochs
        assert r.memorisation["clean"].role == mem.role + "-clean"
    # in a control model every non-embedding layer moved away from its pretrained weights
    store = ArtefactStore(tmp_path / "c")
    entries = [k.name for k in (tmp_path / "c" / KIND).iterdir() if not k.name.startswith(".")]
    key = next(k for k in entries if store.meta(KIND, k)["role"] == "control-0-1")
    trained = store.tensors(KIND, key, "final")
    adapter = plugins.models.get("minilm-l6")
    base = dict(adapter.load_model(2).named_parameters())
    moved = {}
    for name, value in trained.items():
        g = adapter.parameter_group(name)
        if isinstance(g, int):
            moved[g] = moved.get(g, False) or not torch.equal(value, base[name])
    assert moved == {i: True for i in range(6)}


def test_until_fit_scoring_keeps_the_weights_and_shortens_the_history(small):
    """train_eval="until-fit" skips training-set scoring between the first fit and the last epoch;
    the trained weights, the first-fit checkpoint and the final predictions are bit-identical."""
    from memlocbench.config.profiles import ComputeConfig

    adapter, data, enc, val, cfg, models = small
    train = cfg.train.model_copy(update={"epochs": 3, "fit_threshold": 0.05})  # "fitted" after epoch 1
    outcomes = {}
    for mode in ("every-epoch", "until-fit"):
        model = models.pretrained()
        names = models.main_parameter_names(model, "memorising")
        outcomes[mode] = train_classifier(model, names, enc, data.noisy_labels, data.noisy_idx, data.clean_idx, val,
                                          data.validation.labels, train, progress=False,
                                          compute=ComputeConfig(train_eval=mode))
    every, until = outcomes["every-epoch"], outcomes["until-fit"]
    assert every.first_fit_epoch == until.first_fit_epoch == 1
    assert all(torch.equal(every.final[n], until.final[n]) for n in every.final)
    assert all(torch.equal(every.first_fit[n], until.first_fit[n]) for n in every.first_fit)
    assert every.final_predictions == until.final_predictions
    assert [r.noisy_acc is None for r in until.history] == [False, True, False]
    assert all(r.noisy_acc is not None for r in every.history)
    assert until.history[-1].validation_acc == every.history[-1].validation_acc
