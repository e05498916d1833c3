"""The memorisation guard (results, `run`, leaderboard), train_until_fit, the control tracks and their
scoring (ties as the paper's code breaks them), and the leaderboard's pooled views (the paper's seed
aggregation and Pearson agreement)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from conftest import small_sst2_models
from memlocbench.cli import main
from memlocbench.scoring.layer_weights import mcog, normalise
from conftest import installed_model_tables as model_tables
from conftest import installed_render as render
from memlocbench.leaderboard import (Cell, ModelTable, collect, complete_seeds, over_seeds, pooled_agreement,
                                     seeds_text)
from memlocbench.run.method_run import control_score
from memlocbench.config.profiles import GuardConfig, TrainUntilFit
from memlocbench.run.settings import profile_config
from memlocbench.results.run_result import MemorisationStats, memorisation_guard, read_result
from memlocbench.training.trained_models import (CONTROL_NORMALISER, recipe_for,
                                                 single_layer_placements)
from memlocbench.training.trainer import train_classifier

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "leaderboard" / "submissions"


def _stats(noisy_fit: float, role: str = "memorising", labels: str = "noisy") -> MemorisationStats:
    return MemorisationStats(role=role, labels=labels, noisy_fit_perturbed=noisy_fit, noisy_original_acc=0.0,
                             clean_train_acc=1.0, validation_acc=0.8, first_fit_epoch=None,
                             epochs=[{"epoch": 1}] * 5, train_seconds=1.0, trained_in_this_run=True)


# -- the guard ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mem,clean,ok,why", [
    (0.95, 0.0, True, None),
    (0.90, 0.25, True, None),  # both thresholds are inclusive
    (0.89, 0.0, False, "noisy fit 0.89 < 0.90"),
    (1.0, 0.40, False, "clean twin's perturbed-label fit 0.40 > 0.25"),
])
def test_guard_thresholds(mem, clean, ok, why):
    g = memorisation_guard({"memorising": _stats(mem), "clean": _stats(clean, "clean", "clean")}, GuardConfig())
    assert g.memorised is ok and g.reason == why and g.epochs_trained == 5 and not g.derived
    strict = memorisation_guard({"memorising": _stats(mem), "clean": _stats(clean, "clean", "clean")},
                                GuardConfig(min_noisy_fit=0.99))
    assert strict.memorised is (ok and mem >= 0.99)


#: results written before the guard existed (schema 1, no ``memorisation_guard`` block): the layer-swapping
#: results of the first committed baseline (8 fixed epochs), kept here after the baseline was rerun
LEGACY = Path(__file__).resolve().parents[1] / "legacy_results"


def test_results_without_the_block_are_classified_on_reading():
    guards = {}
    for path in sorted(LEGACY.glob("*__layer-swapping__*.json")) + sorted(COMMITTED.glob("*/*.json")):
        if path.name in ("submission.json", "verification.json") or "__analysis-" in path.name:
            continue
        r = read_result(path)
        assert r.memorisation_guard is not None
        if path.parent == LEGACY:
            assert '"memorisation_guard"' not in path.read_text() and r.memorisation_guard.derived
        if not r.memorisation_guard.derived:
            continue  # written with the block by the run itself
        guards[(r.task.name, r.method.name, tuple(r.control.placement) if r.control else None)] = r.memorisation_guard
    not_memorised = sorted({t for (t, m, c), g in guards.items() if not g.memorised})
    # the three (noisy fit 0.15, 0.52, 0.60), and emotion (0.81): all under 0.9
    assert not_memorised == ["emotion", "implicithate", "reuters", "trec"]
    assert guards[("reuters", "layer-swapping", None)].reason == "noisy fit 0.15 < 0.90"
    assert guards[("sst2", "layer-swapping", None)].memorised
    # a control result of the first baseline (still valid) carries no block either
    assert guards[("sst2", "layer-swapping", (0, 1))].memorised


def test_a_stated_guard_must_match_its_statistics(tmp_path):
    """The guard decides what the leaderboard ranks, so a result cannot claim one its numbers do not give."""
    path = next(p for p in sorted(COMMITTED.glob("*/*__layer-swapping__*.json"))
                if not read_result(p).memorisation_guard.derived)
    good = json.loads(path.read_text())
    assert read_result(path).memorisation_guard.memorised and not read_result(path).memorisation_guard.derived
    edits = {
        "claims not memorised": lambda d: d["memorisation_guard"].update(memorised=False, reason="noisy fit low"),
        "fit lowered, claim kept": lambda d: d["memorisation"]["memorising"].update(noisy_fit_perturbed=0.3),
        "threshold changed": lambda d: d["memorisation_guard"].update(min_noisy_fit=0.5),
        "fit misquoted": lambda d: d["memorisation_guard"].update(noisy_fit=d["memorisation_guard"]["noisy_fit"] - 0.03),
    }
    for name, edit in edits.items():
        data = json.loads(json.dumps(good))
        edit(data)
        bad = tmp_path / f"{name.replace(' ', '-')}.json"
        bad.write_text(json.dumps(data))
        res = CliRunner().invoke(main, ["validate", str(bad)])
        assert res.exit_code == 2 and "memorisation_guard." in res.output, (name, res.output)
    # dropping the block is allowed: the guard is derived again from the statistics (and then fails)
    data = json.loads(json.dumps(good))
    data.pop("memorisation_guard")
    data["memorisation"]["memorising"]["noisy_fit_perturbed"] = 0.3
    (tmp_path / "legacy.json").write_text(json.dumps(data))
    g = read_result(tmp_path / "legacy.json").memorisation_guard
    assert g.derived and not g.memorised and g.reason == "noisy fit 0.30 < 0.90"


def _submission_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "subs"
    shutil.copytree(COMMITTED, dest)
    return dest


def _fail_the_guard(path: Path, noisy_fit: float) -> None:
    """Make a committed result's memorising model one that did not memorise: lower its noisy fit and
    drop its guard block, so that the guard is derived again from its own statistics on reading."""
    data = json.loads(path.read_text())
    data["memorisation"]["memorising"]["noisy_fit_perturbed"] = noisy_fit
    data.pop("memorisation_guard", None)
    path.write_text(json.dumps(data))


def test_leaderboard_leaves_out_results_that_did_not_memorise(tmp_path):
    subs = _submission_copy(tmp_path)
    already = sum(not e.result.memorisation_guard.memorised for e in collect(subs).entries)  # e.g. TREC's planted model
    before = model_tables(collect(subs).entries)[0]
    assert ("reuters", "layer-swapping") in before.cells and ("sst2", "layer-swapping") in before.cells
    reuters = [p for p in subs.glob("*/reuters__minilm-l6__*.json") if "__analysis-" not in p.name]
    assert len(reuters) >= 4  # the four layer methods
    for path in reuters:
        _fail_the_guard(path, 0.15)
    collected = collect(subs)
    page = render(collected)
    tables = model_tables(collected.entries)
    assert {t for t, _ in tables[0].cells} == {t for t, _ in before.cells} - {"reuters"}
    where = page.split("## 2.")[1].split("## 3.")[0]
    assert "| reuters " not in where and "| sst2 " in where
    n_out = sum(not e.result.memorisation_guard.memorised for e in collected.entries)
    assert n_out == already + len(reuters)
    assert f"{n_out} of {len(collected.entries)} results are left out" in page
    left = page.split("## Left out: not memorised")[1].split("## Submissions")[0]
    assert "_reuters_" in left and r"noisy fit 0.15 \< 0.90" in left and "| _sst2_" not in left

    # a cell with several seeds keeps the seeds whose model memorised, and leaves the table with none
    sst2 = [p for p in subs.glob("*/sst2__minilm-l6__layer-swapping__*.json") if "__control-" not in p.name]
    by_seed = {json.loads(p.read_text())["seeds"]["model_seed"]: p for p in sst2}
    assert len(by_seed) == len(sst2) >= 2  # the committed baseline: one standard result per model seed
    first, *rest = sorted(by_seed)
    _fail_the_guard(by_seed[first], 0.5)
    again = collect(subs)
    cell = model_tables(again.entries)[0].cells[("sst2", "layer-swapping")]
    assert cell.seeds == rest
    assert f"{n_out + 1} of {len(again.entries)} results are left out" in render(again)
    for seed in rest:
        _fail_the_guard(by_seed[seed], 0.5)
    again = collect(subs)
    t = model_tables(again.entries)[0]
    assert ("sst2", "layer-swapping") not in t.cells and ("sst2", "probing") in t.cells
    assert f"{n_out + len(sst2)} of {len(again.entries)} results are left out" in render(again)


def _r(raw: list[float], seed: int):
    prof = normalise(raw)
    return SimpleNamespace(raw_weights=raw, layer_weights=prof, mcog=mcog(prof), seeds={"model_seed": seed})


def test_seeds_pooled_the_papers_way_beside_the_per_seed_mean():
    cell = Cell([_r([1.0, 0.0, 0.0], 1), _r([0.0, 0.0, 3.0], 2)])
    assert cell.mcog == pytest.approx(2.0)  # mean of the per-seed M-CoGs 1 and 3
    assert cell.pooled_mcog == pytest.approx(2.5)  # raw weights averaged: [0.5, 0, 1.5] -> 0.25 / 0.75
    assert cell.text() == "2.00"  # no spread over fewer than 5 seeds


def test_row_mean_is_over_the_papers_four_methods():
    cells = {("t", "layer-swapping"): Cell([_r([1.0, 0.0, 0.0], 1)]), ("t", "probing"): Cell([_r([0.0, 1.0, 0.0], 1)]),
             ("t", "zero-out"): Cell([_r([0.0, 0.0, 1.0], 1)]), ("u", "zero-out"): Cell([_r([0.0, 0.0, 1.0], 1)])}
    table = ModelTable("m", sorted({c for _, c in cells}), cells, [], num_layers=3,
                       paper_methods=frozenset({"layer-swapping", "layer-retraining", "gradient-attribution", "probing"}))
    assert table.row_mean("t") == pytest.approx(1.5)  # layer swapping 1 and probing 2; zero-out's 3 left out
    assert table.row_mean("u") == pytest.approx(3.0)  # a row of neuron methods only: their mean


def test_pearson_over_all_model_task_points():
    def table(model, values):
        cells = {(t, m): Cell([_r(v, 1)]) for (t, m), v in values.items()}
        return ModelTable(model, ["a", "b"], cells, sorted({t for t, _ in values}), 3)

    one = table("x", {("t1", "a"): [1, 0, 0], ("t1", "b"): [1, 1, 0], ("t2", "a"): [0, 1, 0], ("t2", "b"): [0, 0, 1]})
    two = table("y", {("t1", "a"): [0, 0, 1], ("t1", "b"): [0, 1, 1], ("t3", "a"): [1, 1, 0]})
    [(a, b, r, n)] = pooled_agreement([one, two])
    xs = [1.0, 2.0, 3.0]
    ys = [1.5, 3.0, 2.5]
    mx, my = sum(xs) / 3, sum(ys) / 3
    expected = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(
        sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    assert (a, b, n) == ("a", "b", 3) and r == pytest.approx(expected)


# -- control tracks and scoring -------------------------------------------------------------------------
def test_single_layer_track_placements_and_roles():
    assert single_layer_placements(4) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    r = recipe_for("control-3-3")
    assert (r.main_layers, r.aux, r.labels) == ((3,), True, "noisy")
    n = recipe_for(CONTROL_NORMALISER)
    assert (n.main_layers, n.aux, n.labels) == ((), True, "noisy")


def test_control_ties_follow_the_papers_code():
    tied = [0.3, 0.3, 0.2, 0.2]
    # layer swapping: np.argsort(w)[-2:] -> of two equal weights the higher layer ranks first
    s = control_score(tied, (1, 2), "higher-layer-first")
    assert (s.accuracy_at_1, s.accuracy_at_2, s.true_layer_rank) == (1.0, 0.5, 1)
    # probing and gradient attribution: Counter.most_common -> the lower layer first
    s = control_score(tied, (1, 2), "lower-layer-first")
    assert (s.accuracy_at_1, s.accuracy_at_2, s.true_layer_rank) == (0.0, 0.5, 2)
    assert control_score(tied, (1, 2)) == s  # the default rule


def test_single_layer_scoring():
    s = control_score([0.1, 0.2, 0.4, 0.3], (3, 3), track="single")
    assert (s.track, s.accuracy_at_1, s.accuracy_at_2, s.true_layer_rank, s.chance) == ("single", 0.0, 0.5, 2, 0.25)
    s = control_score([0.1, 0.2, 0.4, 0.3], (2, 2), track="single")
    assert (s.accuracy_at_1, s.true_layer_rank) == (1.0, 1)


# -- train_until_fit ---------------------------------------------------------------------------------
def test_an_explicit_epoch_count_switches_train_until_fit_off():
    assert profile_config("cpu").train.until_fit == TrainUntilFit(max_epochs=30, extra_epochs=1, noisy_fit=0.9)
    assert profile_config("cpu", train={"epochs": 3}).train.until_fit is None
    assert profile_config("paper").train.until_fit is None


@pytest.fixture(scope="module")
def small(plugins, mirror, tmp_path_factory):
    _, data, enc, val, cfg, models = small_sst2_models(plugins, mirror, tmp_path_factory.mktemp("u"), 16, 8)
    return data, enc, val, cfg, models


def _train(small, **train):
    data, enc, val, cfg, models = small
    model = models.pretrained()
    names = models.main_parameter_names(model, "memorising")
    return train_classifier(model, names, enc, data.noisy_labels, data.noisy_idx, data.clean_idx, val,
                            data.validation.labels, cfg.train.model_copy(update=train), progress=False)


@pytest.mark.slow
def test_train_until_fit_stops_after_the_extra_epochs(small):
    # the criterion holds after epoch 1 (a threshold any model meets): stop at max(epochs, 1 + extra)
    out = _train(small, epochs=1, until_fit=TrainUntilFit(max_epochs=6, extra_epochs=2, noisy_fit=1e-9))
    assert out.until_fit_epoch == 1 and out.epochs_trained == 3 == len(out.history)
    assert out.history[-1].validation_acc is not None and out.history[0].validation_acc is None
    # ... but never fewer than `epochs`
    out = _train(small, epochs=2, until_fit=TrainUntilFit(max_epochs=6, extra_epochs=0, noisy_fit=1e-9))
    assert (out.until_fit_epoch, out.epochs_trained) == (1, 2)


@pytest.mark.slow
def test_train_until_fit_continues_to_the_maximum_when_never_fitted(small):
    # lr so small that no noisy example moves to its perturbed label: trains on to max_epochs
    out = _train(small, epochs=1, learning_rate=1e-9,
                 until_fit=TrainUntilFit(max_epochs=3, extra_epochs=1, noisy_fit=1.0))
    assert out.until_fit_epoch is None and out.epochs_trained == 3 == len(out.history)
    assert all(r.noisy_acc is not None for r in out.history)  # scored every epoch while waiting
    assert out.history[-1].validation_acc is not None


@pytest.mark.slow
def test_run_warns_loudly_and_records_the_guard(mirror, tmp_path):
    res = CliRunner().invoke(main, [
        "run", "--method", "layer-swapping", "--task", "sst2", "--train-size", "48", "--max-length", "32",
        "--epochs", "1", "--lr", "1e-9", "--data-dir", str(mirror), "--out", str(tmp_path / "res"),
        "--cache-dir", str(tmp_path / "store"), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "WARNING: NOT MEMORISED: memorising on sst2 (noisy fit" in res.output
    [path] = list((tmp_path / "res").glob("*.json"))
    r = read_result(path)
    g = r.memorisation_guard
    assert not g.memorised and not g.derived and g.epochs_trained == 1 and g.min_noisy_fit == 0.9
    assert r.memorisation["memorising"].epochs_trained == 1
    assert json.loads(path.read_text())["memorisation_guard"]["memorised"] is False


def _ctl(task: str, placement: tuple[int, int], seed: int, acc1: float):
    return SimpleNamespace(task=SimpleNamespace(name=task), seeds={"model_seed": seed},
                           control=SimpleNamespace(placement=list(placement), accuracy_at_1=acc1))


def test_a_seed_missing_some_tasks_is_left_out_of_the_means():
    # seeds 1 and 2 cover both tasks; seed 3 only task a (a grid still running)
    rs = [_ctl("a", (0, 1), 1, 1.0), _ctl("b", (0, 1), 1, 0.0),
          _ctl("a", (0, 1), 2, 1.0), _ctl("b", (0, 1), 2, 1.0),
          _ctl("a", (0, 1), 3, 1.0)]
    assert complete_seeds(rs) == ([1, 2], [3])
    # per seed 0.5 and 1.0; with seed 3's 1.0 (task a only) the mean would be 0.83 and the sd smaller
    assert over_seeds(rs, lambda r: r.control.accuracy_at_1) == "0.75"  # 2 seeds: no spread (under 5)
    assert seeds_text(rs) == "1, 2 (3: incomplete, not in the means)"
    # a placement counts as much as a task
    rs.append(_ctl("a", (4, 5), 1, 0.0))
    assert complete_seeds(rs) == ([1], [2, 3])
    assert over_seeds(rs, lambda r: r.control.accuracy_at_1) == "0.33"
    # no seed covers everything: the pooled mean, no ±
    split = [_ctl("a", (0, 1), 1, 1.0), _ctl("b", (0, 1), 2, 0.0)]
    assert complete_seeds(split) == ([], [1, 2])
    assert over_seeds(split, lambda r: r.control.accuracy_at_1) == "0.50"
    assert seeds_text(split) == "1, 2 (no seed covers every task and placement: pooled, no ±)"
