"""The causal ablation track (analysis ``neuron-ablation``): the selectivity rule on known curves, the
analysis end to end on a tiny SST-2 setup (one ablation point re-measured here with a hook of its own;
the second run comes from the store; a method that is not registered is an error before any training),
validate / recheck, and its leaderboard section and figure."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from conftest import TINY
from memlocbench_analyses import neuron_ablation as na


def _pt(budget, noisy, val, clean=0.0):
    return {"budget": budget, "noisy_fit_drop": noisy, "validation_acc_drop": val, "clean_train_acc_drop": clean}


def test_selectivity_is_the_noisy_drop_at_the_largest_budget_within_the_validation_limit():
    curve = [_pt(0.1, 5.0, 0.0), _pt(0.5, 20.0, 1.0), _pt(1.0, 40.0, 3.0), _pt(2.0, 60.0, 0.5)]
    assert na.selectivity(curve, 1.0) == 60.0  # 2 % drops validation by 0.5 only: the largest within
    assert na.selectivity(curve[:3], 1.0) == 20.0
    assert na.selectivity(curve[:3], 0.5) == 5.0
    assert na.selectivity([_pt(0.1, 5.0, 2.0)], 1.0) is None
    assert na.mean_curve([[_pt(1, 2.0, 4.0)], [_pt(1, 4.0, 0.0)]]) == [_pt(1, 3.0, 2.0)]
    scale = na.budget_scale(2, 3, torch.tensor([4, 0]))
    assert scale.tolist() == [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]


def _request(tmp_path, store, mirror, extra=None):
    from memlocbench.run.analysis_run import AnalysisRequest
    from memlocbench.run.settings import profile_config

    params = {"methods": ["slimming", "probing"], "budgets": [0.5, 2.0],
              "random_repeats": 2, **(extra or {})}
    cfg = profile_config("cpu", data=TINY["data"], train=TINY["train"],
                       methods={"slimming": {"steps": 3}, "probing": {"epochs": 3}},
                       analyses={"neuron-ablation": params})
    return AnalysisRequest("neuron-ablation", "sst2", "minilm-l6", cfg, data_dir=mirror, out_dir=tmp_path / "res",
                           store=store, progress=False)


@pytest.mark.slow
def _submitted_section(path, tmp_path):
    """Submit one ablation result to a temporary leaderboard: the collection, the page and its ablation section."""
    from conftest import installed_render as render
    from memlocbench.leaderboard import collect
    from memlocbench.leaderboard.submission import submit

    _, checked = submit([path], "Ablation", tmp_path / "subs")
    assert not any(c.problems for c in checked)
    collected = collect(tmp_path / "subs")
    page = render(collected, figures_rel="figures")
    return collected, page, page.split("## Causal ablation track")[1].split("## Submissions")[0]


def test_ablation_end_to_end_then_from_the_store(mirror, session_store, tmp_path):
    from memlocbench.run.analysis_run import analyse
    from memlocbench.results.analysis_result import read_analysis_result
    from memlocbench.scoring.layer_weights import layer_ranking, normalise, top_neuron_count
    from memlocbench.registry import load_plugins
    from memlocbench.training.trainer import predict

    plugins = load_plugins()
    methods = plugins.methods
    plugins.methods = dataclasses.replace(methods, items={k: v for k, v in methods.items.items() if k != "hard-concrete"})
    logs = []
    result, path = analyse(plugins, _request(tmp_path, session_store, mirror), log=logs.append)
    d, s = result.details, result.summary
    assert d["skipped"] == []  # a method that is not registered is an error (test_probe_hardening)
    assert set(d["neuron_curves"]) == {"slimming"} and set(d["layer_points"]) == {"probing"}
    assert len(d["random_curves"]) == 2 and len(d["per_layer"]) == 6
    assert [pt["neurons"] for pt in d["neuron_curves"]["slimming"]] == [top_neuron_count(9216, b) for b in (0.5, 2)]
    assert set(s) == {"selectivity.slimming", "selectivity.random", "selectivity.probing", "selectivity.random-layer"}
    assert not result.cached

    # one point re-measured here: slimming's top 2 % zeroed by a hook of our own on BERT's intermediate module
    run_req = _request(tmp_path, session_store, mirror)
    from memlocbench.run.method_run import RunRequest, layer_scores, prepare

    prep = prepare(plugins, RunRequest(task="sst2", model="minilm-l6", methods=[], config=run_req.config.with_seed(1),
                                       data_dir=mirror, out_dir=tmp_path, store=session_store, progress=False))
    scores, cached = layer_scores(RunRequest(task="sst2", model="minilm-l6", methods=["slimming"],
                                             config=run_req.config.with_seed(1), store=session_store),
                                  prep, prep.models, plugins.methods.get("slimming"))
    assert cached  # the analysis stored the method's neuron scores
    k = top_neuron_count(9216, 2.0)
    flat = scores.neurons.reshape(-1).tolist()
    order = sorted(range(9216), key=lambda f: (-flat[f], f))[:k]
    keep = torch.ones(9216)
    keep[order] = 0
    keep = keep.view(6, 1536)
    model = prep.models.load("memorising")
    hooks = [layer.intermediate.register_forward_hook(lambda m, a, out, l=l: out * keep[l])
             for l, layer in enumerate(model.bert.encoder.layer)]
    ds = prep.dataset
    noisy_pred = predict(model, prep.train_enc, list(ds.noisy_idx), 16)
    for h in hooks:
        h.remove()
    ablated = 100 * sum(p == ds.noisy_labels[i] for p, i in zip(noisy_pred, ds.noisy_idx)) / len(ds.noisy_idx)
    assert d["baseline"]["noisy_fit"] - ablated == pytest.approx(d["neuron_curves"]["slimming"][1]["noisy_fit_drop"])
    probing, _ = layer_scores(RunRequest(task="sst2", model="minilm-l6", methods=["probing"],
                                         config=run_req.config.with_seed(1), store=session_store),
                              prep, prep.models, plugins.methods.get("probing"))
    assert d["layer_points"]["probing"]["top_layer"] == layer_ranking(normalise(probing.raw))[0] + 1

    logs.clear()
    again, path2 = analyse(plugins, _request(tmp_path, session_store, mirror), log=logs.append)
    assert again.cached and again.summary == s and path2 == path
    assert na.NeuronAblation().recheck(s, d) == []
    bad = copy.deepcopy(d)
    bad["random_curve"][-1]["noisy_fit_drop"] += 7.0
    assert any("selectivity.random" in p for p in na.NeuronAblation().recheck(s, bad)) or \
        s["selectivity.random"] is None
    assert read_analysis_result(path).summary == s

    # leaderboard: submitted like any analysis result, a section and a figure
    from conftest import installed_analysis_figures as write_figures

    collected, page, part = _submitted_section(path, tmp_path)
    assert "| sst2   | slimming" in part and "| sst2   | random " in part and "probing" in part
    assert "minilm-l6__neuron_ablation.png" in part
    figs = write_figures(collected, [], tmp_path / "fig")
    assert [f.name for f in figs] == ["minilm-l6__neuron_ablation.png"] and figs[0].stat().st_size > 1000
    assert "## Memorisation vs generalisation" in page.split("## Causal ablation track")[0]


def test_ablation_parameter_errors(mirror, session_store, tmp_path):
    from memlocbench.run.analysis_run import analyse
    from memlocbench.errors import InvalidInputError
    from memlocbench.registry import load_plugins

    plugins = load_plugins()
    with pytest.raises(InvalidInputError, match="budgets"):
        analyse(plugins, _request(tmp_path, session_store, mirror, {"budgets": ["one"]}), log=lambda m: None)
    with pytest.raises(InvalidInputError, match=r"budgets are percentages .*150"):
        analyse(plugins, _request(tmp_path, session_store, mirror, {"budgets": [150.0]}), log=lambda m: None)
    with pytest.raises(InvalidInputError, match="random_repeats"):
        analyse(plugins, _request(tmp_path, session_store, mirror, {"random_repeats": 0}), log=lambda m: None)


def test_ablation_leaderboard_section_figure_and_recheck_on_a_synthetic_result(tmp_path):
    from memlocbench.results.analysis_result import AnalysisResult
    from conftest import installed_analysis_figures as write_figures
    from memlocbench.config.profiles import PROFILES
    from memlocbench.results.run_result import PluginRef

    curve = [_pt(0.1, 10.0, 0.0), _pt(2.0, 50.0, 0.5)]
    layer = {**_pt(100 / 6, 80.0, 4.0), "top_layer": 6}
    details = {"params": {"val_drop_limit": 1.0}, "budgets": [0.1, 2.0], "neuron_curves": {"slimming": curve},
               "random_curve": [_pt(0.1, 0.0, 0.0), _pt(2.0, 2.5, 0.0)], "layer_points": {"probing": layer},
               "random_layer_point": _pt(100 / 6, 30.0, 1.5), "skipped": [{"method": "zero-out", "reason": "x"}]}
    summary = na.summarise(details)
    assert summary == {"selectivity.slimming": 50.0, "selectivity.random": 2.5, "selectivity.probing": None,
                       "selectivity.random-layer": None}
    ref = lambda n: PluginRef(name=n, version=1, package="memlocbench", package_version="0.1.0")  # noqa: E731
    cfg = PROFILES["cpu"]
    r = AnalysisResult(memlocbench_version="0.1.0", created_at="2026-01-01T00:00:00+00:00", task=ref("sst2"),
                       model=ref("minilm-l6"), analysis=ref("neuron-ablation"), profile_name="cpu",
                       config=cfg.model_dump(mode="json"), config_hash=cfg.hash(), params={}, seeds=[1], data_seed=1,
                       sizes={}, num_layers=6, summary=summary, details=details, timings={}, cached=False,
                       environment={})
    path = r.write(tmp_path / "res")
    collected, page, part = _submitted_section(path, tmp_path)
    assert "| sst2   | slimming" in part and "10.0 / 50.0" in part and "| 50.0" in part
    assert "layer 6 (16.7 %)" in part and "zero-out" in part and "minilm-l6__neuron_ablation.png" in part
    assert "### minilm-l6" not in page.split("## Causal ablation track")[0]  # not a generalisation row
    figs = write_figures(collected, [], tmp_path / "fig")
    assert [f.name for f in figs] == ["minilm-l6__neuron_ablation.png"] and figs[0].stat().st_size > 1000
    bad = json.loads(path.read_text())
    bad["details"]["neuron_curves"]["slimming"][1]["noisy_fit_drop"] = 40.0
    assert any("selectivity.slimming" in p for p in na.NeuronAblation().recheck(bad["summary"], bad["details"]))
