"""The analyses (the paper's second question): known answers on synthetic data, the fast paths
against plain paper-style references, the plugin kind, the CLI end to end, and validation."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import TINY, minilm_pair
from memlocbench_analyses import centroids as cen
from memlocbench_analyses import memorisation_map as mm
from memlocbench_analyses import probing_events as pe
from references.centroids import reference_centroids


# -- memorisation map ------------------------------------------------------------------------
def _logits_from_probs(p_label: list[list[float]], labels: list[int]) -> torch.Tensor:
    """Two-class logits whose softmax gives probability p to each example's label."""
    out = torch.zeros(len(p_label), len(labels), 2, dtype=torch.float64)
    for r, row in enumerate(p_label):
        for i, p in enumerate(row):
            out[r, i, labels[i]] = math.log(p)
            out[r, i, 1 - labels[i]] = math.log(1 - p)
    return out


def test_map_scores_known_answer():
    labels = [0, 1, 0]
    # run 0 trains on examples 0, 1; run 1 on 1, 2
    trained = torch.tensor([[True, True, False], [False, True, True]])
    logits = _logits_from_probs([[0.9, 0.8, 0.3], [0.5, 0.6, 0.9]], labels)
    prob = mm.label_probabilities(logits, labels)
    tm, gs, cm = mm.map_scores(prob, trained)
    assert tm == pytest.approx([0.9, 0.7, 0.9])
    assert gs[0] == pytest.approx(0.5) and gs[1] is None and gs[2] == pytest.approx(0.3)
    assert cm == [0.4, None, 0.6]  # max(0, round(TM - GS, 1)); never held out: undefined
    scores = mm.task_scores(gs, [False, True, True])
    assert scores["generalisation_score"] == pytest.approx(0.4)
    assert scores["generalisation_score_noisy"] == pytest.approx(0.3)
    assert scores["generalisation_score_clean"] == pytest.approx(0.5)
    # CM is never negative: GS above TM gives 0
    _, _, cm = mm.map_scores(mm.label_probabilities(_logits_from_probs([[0.2, 0.5, 0.5], [0.9, 0.5, 0.5]], labels),
                                                    labels), trained)
    assert cm[0] == 0.0


def test_map_split_follows_python_random_and_normalised_accuracy():
    import random

    train, held = mm.split_for_run(11, 4)
    idx = list(range(11))
    random.Random(4).shuffle(idx)
    assert train == idx[:5] and held == idx[5:] and sorted(train + held) == list(range(11))
    assert mm.chance_accuracy([0, 0, 0, 1], [0, 1]) == pytest.approx(0.75 * 0.5 + 0.25 * 0.5)
    assert mm.normalised_accuracy(0.8, 0.5) == pytest.approx(0.6)


def reference_map(run_logits: list[list[list[float]]], trained_sets: list[set[int]], labels: list[int]):
    """The paper's notebook, one example at a time: lists of probabilities per example."""
    train_prob, test_prob = {}, {}
    for logits, trained in zip(run_logits, trained_sets):
        for i, row in enumerate(logits):
            z = [math.exp(v - max(row)) for v in row]
            p = z[labels[i]] / sum(z)
            (train_prob if i in trained else test_prob).setdefault(i, []).append(p)
    tm = {i: sum(v) / len(v) for i, v in train_prob.items()}
    gs = {i: sum(v) / len(v) for i, v in test_prob.items()}
    cm = {i: max(0, round(tm[i] - gs[i], 1)) for i in tm if i in gs}
    return tm, gs, cm


# -- centroids ---------------------------------------------------------------------------------
def synthetic_clusters(layers=6, cross_at=4, separate_from=3, n_clean=20, n_noisy=5, seed=0):
    """Class 0 and class 1 on the first axis; noisy examples (original label 1, perturbed label 0)
    sit in class 1's cluster below layer ``cross_at`` and in class 0's from it on. The clean clusters
    overlap below layer ``separate_from`` and are apart from it on."""
    gen = torch.Generator().manual_seed(seed)
    n = 2 * n_clean + n_noisy
    feats = torch.zeros(layers, n, 3)
    original = [0] * n_clean + [1] * n_clean + [1] * n_noisy
    perturbed = [0] * n_clean + [1] * n_clean + [0] * n_noisy
    for l in range(layers):
        spread = 1.5 if l + 1 < separate_from else 0.2
        feats[l, :n_clean, 0] = torch.linspace(-spread, spread, n_clean)
        feats[l, n_clean:2 * n_clean, 0] = 1 + torch.linspace(-spread, spread, n_clean)
        feats[l, 2 * n_clean:, 0] = (1.0 if l + 1 < cross_at else 0.0) + 0.05 * torch.randn(n_noisy, generator=gen)
        feats[l, :, 1:] = 0.3 * torch.randn(n, 2, generator=gen)  # off-axis noise does not move t
    noisy = torch.zeros(n, dtype=torch.bool)
    noisy[2 * n_clean:] = True
    return feats, perturbed, original, noisy


def test_map_runs_follow_the_maps_own_epoch_rule_never_the_profiles():
    """The paper's map runs (DEFAULTS, max_epochs None) train a fixed number of epochs; the cpu profile's
    map runs (version 4) train until they fit their half by the map's own until-fit settings; the
    profile's train_until_fit for the memorising models never leaks in."""
    from types import SimpleNamespace

    from memlocbench.run.settings import profile_config

    cfg = profile_config("cpu")
    assert cfg.train.until_fit is not None  # the memorising models do train until they fit
    paper = mm.MemorisationMap.train_config(SimpleNamespace(config=cfg), 3, dict(mm.DEFAULTS))
    assert paper.until_fit is None and paper.epochs == mm.DEFAULTS["epochs"] and paper.seed == 3
    p = {**mm.DEFAULTS, **cfg.analyses.get("memorisation-map", {})}
    run = mm.MemorisationMap.train_config(SimpleNamespace(config=cfg), 3, p)
    assert run.epochs == p["epochs"] == 6 and run.seed == 3
    assert (run.until_fit.max_epochs, run.until_fit.noisy_fit, run.until_fit.extra_epochs) == (30, 0.9, 1)
    assert (run.learning_rate, run.batch_size) == (p["learning_rate"], p["batch_size"])


def test_map_flags_scores_of_runs_that_did_not_fit_their_half():
    runs = [{"seed": 0, "train_accuracy": 0.95}, {"seed": 1, "train_accuracy": 0.7}]
    summary = {"generalisation_score": 0.5, "generalisation_score_corrected": 0.2,
               "normalised_validation_accuracy": 0.8}
    flags = mm.MemorisationMap.flags(summary, {"params": {"fit_threshold": 0.9}, "runs": runs})
    assert set(flags) == {"generalisation_score", "generalisation_score_corrected"}
    assert "1 of 2 map runs did not fit" in flags["generalisation_score"] and "0.70" in flags["generalisation_score"]
    assert mm.MemorisationMap.flags(summary, {"params": {"fit_threshold": 0.6}, "runs": runs}) == {}
    # version 3 maps (no fit_threshold recorded) are held to the default threshold
    assert set(mm.MemorisationMap.flags(summary, {"params": {}, "runs": runs})) == set(flags)


def test_committed_version_3_maps_of_many_class_tasks_are_flagged():
    from conftest import REPO

    found = {}
    for path in sorted((REPO / "leaderboard" / "submissions").glob("*/*analysis-memorisation-map*.json")):
        data = json.loads(path.read_text())
        found[data["task"]["name"]] = mm.MemorisationMap.flags(data["summary"], data["details"])
    if not found:
        pytest.skip("no committed map")
    assert found["emotion"] and "generalisation_score" in found["emotion"]  # 0.66 on its own half


def test_map_run_trains_until_it_fits_its_half(plugins, mirror, session_store, tmp_path):
    from memlocbench.run.analysis_run import AnalysisRequest, analyse
    from memlocbench.run.settings import profile_config

    def request(threshold):
        cfg = profile_config("cpu", data=TINY["data"], train=TINY["train"],
                             analyses={"memorisation-map": {"runs": 1, "epochs": 1, "batch_size": 16, "max_epochs": 3,
                                                            "fit_threshold": threshold, "extra_epochs": 1}})
        return AnalysisRequest("memorisation-map", "sst2", "minilm-l6", cfg, data_dir=mirror, out_dir=tmp_path,
                               store=session_store, progress=False)

    never, _ = analyse(plugins, request(1.0), log=lambda m: None)
    run = never.details["runs"][0]
    if run["train_accuracy"] < 1.0:  # not fitted: on to max_epochs, flagged
        assert run["epochs"] == 3 and run["fit_epoch"] is None
        assert never.summary["runs_fitted_share"] == 0.0
        assert "generalisation_score" in mm.MemorisationMap.flags(never.summary, never.details)
    else:  # fitted every example: stopped extra_epochs after the fit
        assert run["fit_epoch"] is not None and run["epochs"] == min(3, max(1, run["fit_epoch"] + 1))
    easy, _ = analyse(plugins, request(0.01), log=lambda m: None)
    run = easy.details["runs"][0]
    assert run["fit_epoch"] == 1 and run["epochs"] == 2  # fitted at once, then extra_epochs more
    assert easy.summary["runs_fitted_share"] == 1.0 and mm.MemorisationMap.flags(easy.summary, easy.details) == {}
    b = easy.summary["label_prior_agreement"]
    assert easy.summary["generalisation_score_corrected"] == pytest.approx(
        (easy.summary["generalisation_score"] - b) / (1 - b))
    assert mm.MemorisationMap().recheck(easy.summary, easy.details) == []


def test_centroid_events_known_answer():
    feats, perturbed, original, noisy = synthetic_clusters(cross_at=4, separate_from=3)
    out = cen.centroid_events(feats, perturbed, original, noisy, 2)
    by_pair = {tuple(p["pair"]): p for p in out["pairs"]}
    assert by_pair[(0, 1)]["crossing"] == 4 and by_pair[(0, 1)]["initiation"] == 3
    assert by_pair[(1, 0)]["crossing"] is None  # no noisy example goes from 0 to 1
    assert by_pair[(1, 0)]["initiation"] == 3
    curve = by_pair[(0, 1)]["mean_t_noisy_a"]
    assert curve[0] == pytest.approx(1.0, abs=0.1) and curve[-1] == pytest.approx(0.0, abs=0.1)
    assert by_pair[(0, 1)]["mean_t_clean_a"] == pytest.approx([0.0] * 6, abs=1e-9)
    assert by_pair[(0, 1)]["mean_t_clean_b"] == pytest.approx([1.0] * 6, abs=1e-9)
    summary = cen.summarise({1: out})
    assert summary == {"crossing_layer": 4.0, "initiation_layer": 3.0, "crossing_layer_pooled": 4.0,
                       "initiation_layer_pooled": 3.0, "crossing_layer_sd": None, "initiation_layer_sd": None}
    # moved: the events follow the construction
    moved = cen.centroid_events(*synthetic_clusters(cross_at=2, separate_from=5)[:3],
                                synthetic_clusters()[3], 2)
    assert cen.summarise({1: moved})["crossing_layer"] == 2 and cen.summarise({1: moved})["initiation_layer"] == 5
    # two model seeds: the mean over (seed, pair) events, the sd over the seeds' own means
    both = cen.summarise({1: out, 2: moved})
    assert both["crossing_layer"] == 3.0 and both["crossing_layer_sd"] == pytest.approx(2 ** 0.5)
    assert both["initiation_layer"] == 4.0 and both["initiation_layer_sd"] == pytest.approx(2 ** 0.5)


def test_event_rules_on_curves():
    t = torch.tensor
    # the last drop below 0.5 counts (a dip and a recovery before it)
    assert cen.crossing_layer(t([0.9, 0.4, 0.8, 0.7, 0.2, 0.1])) == 5
    assert cen.crossing_layer(t([0.3, 0.2, 0.1])) == 1  # below from the start: layer 1
    assert cen.crossing_layer(t([0.9, 0.8, 0.7])) is None
    # initiation must hold at every later layer
    assert cen.initiation_layer(t([0.5, 0.1, 0.6, 0.1, 0.1]), t([0.4, 0.4, 0.4, 0.4, 0.4])) == 4
    assert cen.initiation_layer(t([0.5, 0.5]), t([0.4, 0.4])) is None


def test_fast_centroids_equal_paper_style_reference_on_a_tiny_model(plugins, mirror):
    from memlocbench_methods.probing import sentence_features

    adapter, enc, labels, _, model = minilm_pair(plugins, mirror, n_rows=36, max_length=32, scale=0.02, seed=5,
                                                 embeddings_too=False)
    noisy_idx = [1, 4, 9, 16, 25, 30]
    perturbed = [1 - y if i in noisy_idx else y for i, y in enumerate(labels)]
    noisy = torch.zeros(len(labels), dtype=torch.bool)
    noisy[noisy_idx] = True
    fast = cen.centroid_events(sentence_features(adapter, model, enc, 16)[1:], perturbed, labels, noisy, 2)
    # the paper's way: one example at a time through the model, its first-token state per layer
    reps = [[None] * len(labels) for _ in range(6)]
    with torch.no_grad():
        for i in range(len(labels)):
            hs = model(**enc.batch([i]), output_hidden_states=True).hidden_states
            for l in range(6):
                reps[l][i] = hs[l + 1][0, 0].tolist()
    ref = reference_centroids(reps, perturbed, labels, set(noisy_idx), 2)
    assert [p["pair"] for p in fast["pairs"]] == [r["pair"] for r in ref] == [[0, 1], [1, 0]]
    for f, r in zip(fast["pairs"], ref):
        assert f["crossing"] == r["crossing"] and f["initiation"] == r["initiation"]
        for key in ("mean_t_clean_a", "mean_t_clean_b", "mean_t_noisy_a"):
            assert f[key] == pytest.approx(r[key], abs=1e-4), key


# -- probing events -----------------------------------------------------------------------------
def test_probing_events_known_answer_from_an_f1_table():
    f1 = {"perturbed_noisy": [0.1, 0.2, 0.5, 0.9], "original_noisy": [0.1, 0.3, 0.35, 0.2],
          "original_clean": [0.5, 0.6, 0.9, 0.95]}
    p = pe.DEFAULTS
    # memorisation: first l with 0.5 > 0.35 + 0.1; initiation: (0.95 - 0.5) / (0.95 - 0.5) = 1 > 0.9 at l = 3
    assert pe.events(f1, 0.5, p) == {"memorisation": 2, "initiation": 3}
    assert pe.events(f1, 0.0, p)["initiation"] == 2  # 0.9 / 0.95 > 0.9
    assert pe.memorisation_layer([0.2, 0.2], [0.2, 0.15]) is None
    assert pe.initiation_layer([0.4, 0.4], 0.5) is None  # never above chance
    summary = pe.summarise({"1": {"events": {"memorisation": 2, "initiation": 3}},
                            "2": {"events": {"memorisation": 4, "initiation": None}}})
    assert summary == {"memorisation_layer": 3.0, "initiation_layer": 3.0,
                       "memorisation_layer_sd": pytest.approx(2 ** 0.5), "initiation_layer_sd": None}
    details = {"rand": 0.5, "params": {}, "per_seed": {"1": {"f1": f1, "events": {"memorisation": 2, "initiation": 3}}}}
    assert pe.ProbingEvents().recheck({"memorisation_layer": 2.0, "initiation_layer": 3.0}, details) == []
    bad = pe.ProbingEvents().recheck({"memorisation_layer": 1.0, "initiation_layer": 3.0}, details)
    assert len(bad) == 1 and "memorisation_layer" in bad[0]


def test_label_probes_use_the_stacked_engine_and_find_a_planted_layer():
    # hidden state 2 carries the label, 0 and 1 are noise: macro-F1 on clean test examples jumps at 2
    gen = torch.Generator().manual_seed(0)
    n = 120
    labels = [i % 3 for i in range(n)]
    feats = torch.randn(3, n, 8, generator=gen)
    feats[2, :, :3] += 12 * torch.nn.functional.one_hot(torch.tensor(labels), 3).float()
    p = {**pe.DEFAULTS, "epochs": 60, "select_after_epoch": 5, "seeds": [0, 1]}
    f1 = pe.subset_f1(feats, labels, set(range(0, n, 7)), 3, p)
    assert f1["clean"][2] > 0.9 and max(f1["clean"][:2]) < 0.6
    assert pe.initiation_layer(f1["clean"], pe.shuffled_label_f1(labels, 1)) == 2


# -- plugin kind, pipeline, CLI, validation ----------------------------------------------------
def test_analyses_registered_with_their_package(plugins):
    assert {"memorisation-map", "centroids", "probing-events"} <= set(plugins.analyses.names())
    assert plugins.analyses.provider("centroids").package == "memlocbench"
    out = subprocess.run([sys.executable, "-m", "memlocbench.cli", "list", "analyses"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("memorisation-map", "centroids", "probing-events"):
        assert name in out.stdout
    assert "memlocbench 0.1.0" in out.stdout


def test_analysis_settings_leave_method_config_hashes_alone():
    from memlocbench.run.settings import profile_config

    cfg = profile_config("cpu", analyses={"memorisation-map": {"runs": 3}})
    assert cfg.analyses["memorisation-map"]["runs"] == 3 and "analyses" not in cfg.model_dump()
    assert cfg.hash() == profile_config("cpu").hash()
    # the cpu profile's map settings are the plugin's own, for cpu and the cpu-fast profile derived from it
    assert profile_config("cpu").analyses["memorisation-map"] == {"runs": 8, "epochs": 6, "learning_rate": 1e-4,
                                                                   "batch_size": 16, "max_epochs": 30,
                                                                   "fit_threshold": 0.9, "extra_epochs": 1}
    assert profile_config("cpu-fast").analyses == profile_config("cpu").analyses
    assert "memorisation-map" not in profile_config("paper").analyses


def test_map_resumes_and_its_scores_equal_the_paper_style_reference(plugins, mirror, session_store, tmp_path):
    from memlocbench.run.analysis_run import AnalysisRequest, analyse
    from memlocbench.run.settings import profile_config

    def request(runs):
        cfg = profile_config("cpu", data=TINY["data"], train=TINY["train"],
                           analyses={"memorisation-map": {"runs": runs, "epochs": 1, "batch_size": 16,
                                                          "max_epochs": None}})
        return AnalysisRequest("memorisation-map", "sst2", "minilm-l6", cfg, data_dir=mirror, out_dir=tmp_path,
                               store=session_store, progress=False)

    logs = []
    analyse(plugins, request(1), log=logs.append)
    assert [m.split(" trained")[0] for m in logs if "memorisation map: run" in m] == ["memorisation map: run 1/1"]
    logs.clear()
    result, path = analyse(plugins, request(2), log=logs.append)  # run 0 comes from the store: a resumed map
    assert [m.split(" trained")[0] for m in logs if "memorisation map: run" in m] == ["memorisation map: run 2/2"]
    d = result.details
    ctx = _Ctx(request(2))
    keys = [session_store.key(mm.MemorisationMap().run_spec(ctx, s, d["params"])) for s in range(2)]
    runs = [session_store.tensors(mm.RUN_KIND, k, "run") for k in keys]
    labels = ctx.dataset.noisy_labels
    tm, gs, cm = reference_map([r["logits"].tolist() for r in runs],
                               [set(torch.nonzero(r["trained"]).flatten().tolist()) for r in runs], labels)
    for i in range(len(labels)):
        assert d["tm"][i] == pytest.approx(tm.get(i), abs=1e-6) if i in tm else d["tm"][i] is None
        assert d["gs"][i] == pytest.approx(gs.get(i), abs=1e-6) if i in gs else d["gs"][i] is None
        assert d["cm"][i] == cm.get(i)
    assert result.summary["generalisation_score"] == pytest.approx(np.mean(list(gs.values())))
    assert mm.MemorisationMap().recheck(result.summary, d) == []
    assert json.loads(path.read_text())["kind"] == "analysis"


def test_analyses_leave_out_model_seeds_whose_memorising_model_did_not_memorise(plugins, mirror, session_store,
                                                                                 tmp_path, monkeypatch):
    """The memorisation guard over model seeds: centroids (reads the memorising models) analyses only the
    seeds that memorised and records every seed's guard; when none did it analyses all and says so; the
    map (reads only the clean twins) keeps every seed and averages their validation accuracy."""
    from memlocbench.run import analysis_run as ap
    from memlocbench.run.analysis_run import AnalysisRequest, analyse
    from memlocbench.run.settings import profile_config

    real = ap.seed_guard
    failing: set[int] = set()

    def forced(models, cfg):  # the real guard of the trained models, its verdict set per seed
        g = real(models, cfg)
        bad = models.config.train.seed in failing
        return g.model_copy(update={"memorised": not bad, "reason": "noisy fit forced low" if bad else None})

    monkeypatch.setattr(ap, "seed_guard", forced)

    def run(name, log):
        # the output is keyed by the models and the guard's thresholds (which fix the verdicts of real
        # models); the forced verdicts here get thresholds of their own, so each scenario its own key
        guard = {"max_clean_twin_fit": 0.5 + 0.1 * len(failing) + 0.01 * sum(failing)}
        cfg = profile_config("cpu", data=TINY["data"], train=TINY["train"], guard=guard,
                           analyses={"memorisation-map": {"runs": 1, "epochs": 1, "batch_size": 16,
                                                          "max_epochs": None}})
        return analyse(plugins, AnalysisRequest(name, "sst2", "minilm-l6", cfg, seeds=[1, 2], data_dir=mirror,
                                                out_dir=tmp_path, store=session_store, progress=False), log=log)[0]

    failing.add(2)
    logs = []
    one = run("centroids", logs.append)
    assert one.seeds == [1] and list(one.details["per_seed"]) == ["1"] and one.memorised
    assert {s: g.memorised for s, g in one.memorisation_guard.items()} == {"1": True, "2": False}
    assert one.summary["crossing_layer_sd"] is None  # one seed analysed: no spread
    assert any("model seed 2" in m and "leaves it out" in m for m in logs)
    failing.add(1)
    none = run("centroids", lambda m: None)
    assert none.seeds == [1, 2] and not none.memorised and list(none.details["per_seed"]) == ["1", "2"]
    failing.clear()
    both = run("centroids", lambda m: None)
    assert both.seeds == [1, 2] and both.memorised and both.details["per_seed"] == none.details["per_seed"]
    failing.add(2)
    mmap = run("memorisation-map", lambda m: None)
    assert mmap.seeds == [1, 2] and mmap.memorisation_guard == {}  # no memorising model read: no guard
    accs = mmap.details["clean_validation_accuracy"]
    assert list(accs) == ["1", "2"]
    assert mmap.summary["clean_validation_accuracy"] == pytest.approx(sum(accs.values()) / 2)
    assert mm.MemorisationMap().recheck(mmap.summary, mmap.details) == []
    wrong = {**mmap.summary, "normalised_validation_accuracy_sd": (mmap.summary["normalised_validation_accuracy_sd"]
                                                                   or 0.0) + 0.1}
    assert any("normalised_validation_accuracy_sd" in m for m in mm.MemorisationMap().recheck(wrong, mmap.details))


class _Ctx:
    """The few context fields ``run_spec`` reads, rebuilt from a request (to find the stored runs)."""

    def __init__(self, req):
        from memlocbench.data.noisy_dataset import build_noisy_dataset
        from memlocbench.registry import load_plugins

        plugins = load_plugins()
        adapter = plugins.models.get("minilm-l6")
        self.task_name, self.config, self.adapter = "sst2", req.config, adapter
        self.dataset = build_noisy_dataset(plugins.tasks.get("sst2"), req.config.data, req.data_dir,
                                           adapter.separator(adapter.load_tokenizer()))
        from memlocbench.training.trained_models import TrainedModels

        self.models = TrainedModels(req.store, adapter, "minilm-l6", "sst2", 1, self.dataset, None, None,
                                    req.config, progress=False)  # for its identity(): digest and threads


def _cli(*args):
    """The memlocbench command in this process (click's runner): stdout and stderr apart."""
    from click.testing import CliRunner

    from memlocbench.cli import main

    return CliRunner().invoke(main, list(args))


@pytest.mark.slow
def test_cli_analyse_end_to_end_then_from_the_store_then_validate(mirror, tmp_path):
    tiny = ["--task", "sst2", "--train-size", str(TINY["data"]["train_size"]), "--max-length",
            str(TINY["data"]["max_length"]), "--epochs", str(TINY["train"]["epochs"]), "--batch-size",
            str(TINY["train"]["batch_size"]), "--data-dir", str(mirror), "--out", str(tmp_path / "res"),
            "--cache-dir", str(tmp_path / "store"), "--quiet"]
    params = {"memorisation-map": ["--param", "runs=2", "--param", "epochs=1", "--param", "max_epochs=null"],
              "centroids": [],
              "probing-events": ["--param", "epochs=8", "--param", "select_after_epoch=2", "--param", "seeds=[0]"]}
    for name, extra in params.items():
        first = _cli("analyse", name, *tiny, *extra)
        assert first.exit_code == 0, first.output
        assert f"{name} on sst2, minilm-l6" in first.stdout and "result written to" in first.stdout
        assert "[from the store]" not in first.stdout
        second = _cli("analyse", name, *tiny, *extra)
        assert second.exit_code == 0, second.output
        assert "[from the store]" in second.stdout
        assert "run 1/" not in second.stderr  # nothing trained again
    files = sorted((tmp_path / "res").glob("*.json"))
    assert [f.name.split("__")[2] for f in files] == ["analysis-centroids", "analysis-memorisation-map",
                                                      "analysis-probing-events"]
    ok = _cli("validate", *map(str, files))
    assert ok.exit_code == 0, ok.output
    data = json.loads(files[1].read_text())
    assert data["cached"] is True and data["params"]["runs"] == 2 and len(data["details"]["gs"]) == 64
    data["summary"]["generalisation_score"] += 0.1  # a summary that its details do not give
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    out = _cli("validate", str(bad))
    assert out.exit_code == 2 and "generalisation_score" in out.stderr
    data["summary"]["generalisation_score"] = float("nan")
    bad.write_text(json.dumps(data))
    out = _cli("validate", str(bad))
    assert out.exit_code == 2 and "finite" in out.stderr
    unknown = _cli("analyse", "centroid", *tiny)
    assert unknown.exit_code == 2 and "centroids" in unknown.stderr
    badparam = _cli("analyse", "centroids", *tiny, "--param", "nope=1")
    assert badparam.exit_code == 2 and "nope" in badparam.stderr


def test_leaderboard_section_with_analysis_results(tmp_path):
    from memlocbench.results.analysis_result import AnalysisResult
    from conftest import installed_analysis_figures as write_figures
    from conftest import installed_render as render
    from memlocbench.leaderboard import collect, correlation
    from memlocbench.config.profiles import PROFILES
    from memlocbench.results.run_result import MemorisationGuard, PluginRef

    def ref(name):
        return PluginRef(name=name, version=1, package="memlocbench", package_version="0.1.0")

    def guard(memorised, fit):
        return MemorisationGuard(memorised=memorised, noisy_fit=fit, clean_twin_fit=0.0, min_noisy_fit=0.9,
                                 max_clean_twin_fit=0.25, reason=None if memorised else f"noisy fit {fit:.2f} < 0.90")

    cfg = PROFILES["cpu"]
    sub = tmp_path / "in" / "x"  # written outside the submissions folder: only what submit files counts
    sub.mkdir(parents=True)
    gens = {"t1": 0.2, "t2": 0.5, "t3": 0.8, "t4": 0.6, "t5": 0.1}
    crossings = {"t1": 2.0, "t2": 3.0, "t3": 5.0, "t4": 4.0, "t5": 6.0}
    # t4: seed 2 failed the guard, seeds 1 and 3 analysed; t5: no seed memorised, so it counts for nothing
    guards = {"t4": {"1": guard(True, 1.0), "2": guard(False, 0.88), "3": guard(True, 0.98)},
              "t5": {"1": guard(False, 0.5)}}
    for task in gens:
        for name, summary in (("memorisation-map", {"generalisation_score": gens[task],
                                                    "normalised_validation_accuracy": 1 - gens[task],
                                                    "normalised_validation_accuracy_sd": 0.05}),
                              ("centroids", {"crossing_layer": crossings[task], "initiation_layer": None,
                                             "crossing_layer_sd": 0.5 if task == "t4" else None})):
            g = guards.get(task, {}) if name == "centroids" else {}
            seeds = sorted(int(k) for k, v in g.items() if v.memorised) or sorted(int(k) for k in g) or [1]
            r = AnalysisResult(memlocbench_version="0.1.0", created_at="2026-01-01T00:00:00+00:00", task=ref(task),
                               model=ref("m"), analysis=ref(name), profile_name="cpu",
                               config=cfg.model_dump(mode="json"), config_hash=cfg.hash(), params={"runs": 3},
                               seeds=seeds, data_seed=1, sizes={}, num_layers=6, summary=summary, details={},
                               timings={}, cached=False, environment={}, memorisation_guard=g)
            r.write(sub)
    from memlocbench.leaderboard.submission import submit

    dest, checked = submit(sorted(sub.glob("*.json")), "Analyses", tmp_path / "subs")  # filed like method results
    assert len(checked) == 10 and not any(c.problems for c in checked) and (dest / "submission.json").is_file()
    collected = collect(tmp_path / "subs")
    assert len(collected.analyses) == 10 and not collected.problems and not collected.entries
    page = render(collected, figures_rel="figures")
    part = page.split("## Memorisation vs generalisation")[1].split("## Submissions")[0]
    assert "| t3     | 0.80" in part
    # t5's crossing (6.0 at the lowest generalisation) would break the perfect order: it is left out
    assert part.count("n < 5 (n = 4)") == 2  # crossing vs the two scores: 4 tasks are too few for a statistic
    t4 = next(line for line in part.splitlines() if line.startswith("| t4"))
    assert "4.00" in t4 and "0.40" in t4 and "±" not in t4 and "| 1,3 " in t4  # no spread over 2 seeds
    t5 = next(line for line in part.splitlines() if line.startswith("| t5"))
    assert "6.00" not in t5
    assert "- t4: model seed 2 left out of centroids (noisy fit 0.88 < 0.90)" in part
    assert "- t5, centroids: no model seed memorised (seed 1: noisy fit 0.50 < 0.90)" in part
    assert correlation([1, 2, None, 4], [2, 4, 5, None]) [2] == 2
    assert write_figures(collected, [], tmp_path / "fig") == []  # no M-CoG without method results
    empty = render(collect(tmp_path / "nothing"))
    assert "_No analysis results yet" in empty


@pytest.mark.parametrize("param,problem", [
    ("runs=-1", "must not be negative"), ("runs=NaN", "expected an integer"), ('runs="x"', "expected an integer"),
    ("runs=0", "runs must be >= 1"), ("epochs=2.5", "expected an integer"), ("learning_rate=Infinity", "finite"),
    ("bogus=1", "valid: batch_size, epochs"),
])
def test_bad_analysis_parameters_are_clean_errors_before_any_training(mirror, tmp_path, param, problem):
    from click.testing import CliRunner

    from memlocbench.cli import main

    res = CliRunner().invoke(main, ["analyse", "memorisation-map", "--task", "sst2", "--data-dir", str(mirror),
                                    "--train-size", "40", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "r"),
                                    "--param", param, "--quiet"])
    assert res.exit_code == 2 and problem in res.output, res.output
    assert not (tmp_path / "models").exists() and not list((tmp_path / "r").glob("*.json"))
