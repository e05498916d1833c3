"""Result schema 2 and the explicit upgraders from every schema-1 shape: old files validate, render and
count through ``results.upgrade``, never rewritten on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from memlocbench.results.run_result import Result, RunSummary
from memlocbench.results.upgrade import result_1_to_2, summary_1_to_2, upgrade, RESULT_STEPS

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "leaderboard" / "submissions" / "memlocbench-cpu-baseline"
LEGACY = REPO / "tests" / "legacy_results"

#: one committed file of every schema-1 shape
SHAPES = {
    "standard, with guard": BASELINE / "sst2__minilm-l6__layer-swapping__2f5dae697d19.json",
    "pair track": BASELINE / "sst2__minilm-l6__probing__control-4-5__9e6adc65440b.json",
    "single track": BASELINE / "sst2__minilm-l6__gradient-attribution__control-3-3__9e6adc65440b.json",
    "planted neurons": BASELINE / "cola__minilm-l6__activations__planted-neurons__46279e1b77ef.json",
    "first baseline, no guard": LEGACY / "sst2__minilm-l6__layer-swapping__37c611d62816.json",
    "first baseline control, no guard": LEGACY / "sst2__minilm-l6__layer-swapping__control-0-1__71a58c5db41f.json",
}


def _v1(path: Path) -> dict:
    data = json.loads(path.read_text())
    assert data["schema_version"] == 1
    return data


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_schema_1_shape_upgrades_and_validates(shape):
    old = _v1(SHAPES[shape])
    new = result_1_to_2(old)
    assert new["schema_version"] == 2
    assert new["raw_weights"] == old["profile_raw"] and new["layer_weights"] == old["profile"]
    assert new["weights_all_zero"] == old["profile_all_zero"] and new["settings_profile"] == old["profile_name"]
    assert not {"profile", "profile_raw", "profile_all_zero", "profile_name"} & set(new)
    r = Result.model_validate(old)  # upgraded on read, then checked as schema 2
    assert r.schema_version == 2 and r.layer_weights == old["profile"] and r.mcog == old["mcog"]
    # the current schema round-trips: what an upgraded file dumps validates as it is
    assert Result.model_validate(json.loads(r.model_dump_json())) == r


def test_planted_track_is_renamed():
    r = Result.model_validate(_v1(SHAPES["planted neurons"]))
    assert r.control.track == "planted" and r.filename().endswith(SHAPES["planted neurons"].name[-30:])


def test_guard_is_derived_only_where_schema_1_had_none():
    legacy = Result.model_validate(_v1(SHAPES["first baseline, no guard"]))
    assert legacy.memorisation_guard.derived
    mem = legacy.memorisation["memorising"].noisy_fit_perturbed
    assert legacy.memorisation_guard.noisy_fit == mem and legacy.memorisation_guard.memorised == (mem >= 0.9)
    stated = _v1(SHAPES["standard, with guard"])
    assert Result.model_validate(stated).memorisation_guard.model_dump() == stated["memorisation_guard"]


def test_schema_2_requires_its_own_names_and_the_guard():
    new = result_1_to_2(_v1(SHAPES["standard, with guard"]))
    Result.model_validate(new)
    with pytest.raises(ValidationError, match="profile"):  # a schema-2 file cannot use the old names
        Result.model_validate({**{k: v for k, v in new.items() if k != "layer_weights"}, "profile": new["layer_weights"]})
    with pytest.raises(ValidationError, match="memorisation_guard"):
        Result.model_validate({k: v for k, v in new.items() if k != "memorisation_guard"})
    with pytest.raises(ValidationError, match="schema_version"):
        Result.model_validate({**new, "schema_version": 3})


def test_a_derived_number_edited_in_an_old_file_is_still_caught():
    old = _v1(SHAPES["pair track"])
    old["profile_raw"][0] = old["profile_raw"][0] * 3 + 1e-3
    with pytest.raises(ValidationError, match="layer_weights do not follow from raw_weights"):
        Result.model_validate(old)


def test_summary_upgrade():
    old = {"schema_version": 1, "kind": "run-summary", "task": "sst2", "model": "minilm-l6", "profile_name": "cpu",
           "config_hash": "a" * 64, "control": True, "control_track": "neurons", "mcog": {"zero-out": 3.0},
           "mean_mcog": 3.0, "control_accuracy": {}, "results": ["x.json"]}
    assert summary_1_to_2(old)["control_track"] == "planted"
    s = RunSummary.model_validate(old)
    assert (s.schema_version, s.settings_profile, s.control_track) == (2, "cpu", "planted")


def test_upgrade_leaves_what_it_does_not_know():
    for data in ([1, 2], "text", {"schema_version": "1"}, {"schema_version": 7}, {"no": "version"}):
        assert upgrade(data, RESULT_STEPS) == data
