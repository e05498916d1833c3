"""The gradient-routed control tracks (issue 31): `routed-pair`, `routed-single` and `planted-routed` run
through the same pipeline as the paper's tracks, with their own roles, result files and scores, and the
results they write validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from memlocbench.data.decoy_rows import DECOY_VERSION, decoy_count
from memlocbench.errors import InvalidInputError
from memlocbench.results.run_result import Result, control_roles, read_result
from memlocbench.run.method_run import RunRequest, model_setups
from memlocbench.run.method_run import run as run_pipeline
from memlocbench.run.settings import profile_config
from memlocbench.scoring.planted_neurons import ROUTED_PLANTED_PERCENT, planted_percent, sample_planted
from memlocbench.store import ArtefactStore


def test_routed_tracks_set_up_their_own_roles():
    cfg = profile_config("cpu")
    pair = model_setups("sst2", cfg, 6, True, track="routed-pair")
    assert [p for _, p in pair] == [(0, 1), (2, 3), (4, 5)]
    assert pair[0][0] == {"memorising": "routed-0-1", "clean": "routed-0-1-clean", "classifier-only": "classifier-only"}
    single = model_setups("sst2", cfg, 6, True, track="routed-single")
    assert [p for _, p in single] == [(i, i) for i in range(6)] and single[5][0]["memorising"] == "routed-5-5"
    assert model_setups("sst2", cfg, 6, True, track="planted-routed") == [
        ({"memorising": "planted-routed", "clean": "planted-routed-clean", "classifier-only": "classifier-only"}, None)]
    with pytest.raises(InvalidInputError, match="no layer placements"):
        model_setups("sst2", cfg, 6, True, placements=[(0, 1)], track="planted-routed")
    with pytest.raises(InvalidInputError, match="unknown control track 'routed'"):
        model_setups("sst2", cfg, 6, True, track="routed")
    assert control_roles("routed-pair", (2, 3)) == ("routed-2-3", "routed-2-3-clean")
    assert control_roles("pair", (2, 3)) == ("control-2-3", "control-2-3-clean")
    assert planted_percent(True) == ROUTED_PLANTED_PERCENT


def _run(plugins, mirror, tmp_path, track, methods, placements=None) -> list[Result]:
    cfg = profile_config("cpu", plugins=plugins, data={"train_size": 64, "max_length": 32},
                         train={"epochs": 2, "batch_size": 16, "learning_rate": 3e-4}).with_seed(1)
    req = RunRequest(task="sst2", model="minilm-l6", methods=methods, config=cfg, data_dir=Path(mirror),
                     out_dir=tmp_path / "out", store=ArtefactStore(tmp_path / "store"), progress=False,
                     control=True, control_track=track, placements=placements)
    out = run_pipeline(plugins, req, log=lambda m: None)
    return [read_result(p) for p in out.paths]  # every written file validates on reading


@pytest.mark.slow
def test_a_routed_single_layer_run_writes_its_own_valid_results(plugins, mirror, tmp_path):
    results = _run(plugins, mirror, tmp_path, "routed-single", ["weight-delta", "random"], placements=[(5, 5)])
    assert [r.method.name for r in results] == ["weight-delta", "random"]
    for r in results:
        assert r.control.track == "routed-single" and r.control.placement == [5, 5]
        assert (r.memorisation["memorising"].role, r.memorisation["clean"].role) == ("routed-5-5", "routed-5-5-clean")
        assert "__routed-5-5__" in r.filename()
    # the paper's track's file for the same placement and config is another file
    paper = results[0].model_copy(update={"control": results[0].control.model_copy(update={"track": "single"})})
    assert paper.filename() != results[0].filename() and "__control-5-5__" in paper.filename()
    assert (tmp_path / "out").joinpath(results[0].filename()).is_file()
    # both models trained on the decoy rows: as many per other layer (5) as noisy examples on the placed one
    store = ArtefactStore(tmp_path / "store")
    entries = {m["role"]: m for m in (store.meta("models", p.name) for p in (tmp_path / "store" / "models").iterdir()
                                      if p.is_dir() and not p.name.startswith("."))}
    n_noisy = results[0].sizes["n_noisy"]
    for role in ("routed-5-5", "routed-5-5-clean"):
        assert entries[role]["spec"]["decoys"] == {"rows": decoy_count(n_noisy, 6, 1), "version": DECOY_VERSION}
        assert len(entries[role]["final_train_predictions"]) == 64  # the dataset's rows only
    # the twin trained exactly as many epochs as its memorising model, on the same schedule
    assert entries["routed-5-5-clean"]["epochs_trained"] == entries["routed-5-5"]["epochs_trained"]
    assert entries["routed-5-5-clean"]["spec"]["epochs_as"] == store.key(entries["routed-5-5"]["spec"])


@pytest.mark.slow
def test_a_planted_routed_run_scores_against_planting_v4(plugins, mirror, tmp_path):
    (r,) = _run(plugins, mirror, tmp_path, "planted-routed", ["weight-delta-neurons"])
    assert r.control.track == "planted-routed"
    assert r.control.planted == sample_planted(6, 1536, 1, ROUTED_PLANTED_PERCENT)
    assert r.control.recall_at_k is not None and r.filename().endswith(f"__planted-routed__{r.config_hash[:12]}.json")
    assert (r.memorisation["memorising"].role, r.memorisation["clean"].role) == ("planted-routed",
                                                                                 "planted-routed-clean")
