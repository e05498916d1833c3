"""Plugin knowledge lives in plugin metadata: the built-in methods' suites and tie rules, the analyses'
measures, ``--method all`` / ``--method SUITE`` from ``MethodInfo.suites``, tie rules in control scoring,
the grid's parameter defaults, work and rates asked of the plugin objects, and the example third-party
package joining the paper's suite and the leaderboard's measures with no change to the core."""

from __future__ import annotations

import ast
import importlib
import sys
from types import SimpleNamespace

import pytest

from conftest import REPO
from memlocbench.api import LayerScores, Measure, MethodInfo, hookimpl, method_suites, suite_members
from memlocbench.errors import InvalidInputError, UnknownNameError
from memlocbench.registry import Provider, load_plugins
from memlocbench.run.method_run import resolve_methods

PAPER = ["layer-swapping", "layer-retraining", "gradient-attribution", "probing"]
NEURONS = ["zero-out", "activations", "integrated-gradients", "slimming", "hard-concrete"]
BASELINES = ["weight-delta", "weight-delta-pretrained", "weight-delta-neurons", "weight-delta-neurons-pretrained",
             "random", "random-neurons"]


class _Method:
    def __init__(self, name: str, **info):
        self.info = MethodInfo(name=name, description="a third-party test method", **info)

    def localise(self, ctx):
        return LayerScores(raw=[1.0] * ctx.num_layers)


class _Package:
    """A third-party plugin package registering the given method objects."""

    def __init__(self, *methods):
        self.methods = methods

    @hookimpl
    def register_methods(self, register):
        for m in self.methods:
            register(m)


def _with(*methods):
    return load_plugins(extra=[(_Package(*methods), Provider("third-party", "1.0"))])


# -- the built-ins' declarations ---------------------------------------------------------------------
def test_builtin_methods_declare_their_suites_and_tie_rules(plugins):
    infos = {name: plugins.methods.get(name).info for name in plugins.methods.names()}
    assert {n: i.suites for n, i in infos.items()} == {**{n: ("paper",) for n in PAPER},
                                                       **{n: ("neurons",) for n in NEURONS},
                                                       **{n: ("baselines",) for n in BASELINES}}
    # the paper's code: layer swapping ranks tied layers with np.argsort(...)[-2:] (the higher first),
    # the others with Counter.most_common (the lower first)
    assert {n for n, i in infos.items() if i.tie_rule == "higher-layer-first"} == {"layer-swapping"}


def test_builtin_analyses_declare_the_leaderboards_measures_in_order(plugins):
    declared = [(a, m.key, m.label, m.kind, m.paper_rho) for a in plugins.analyses.names()
                for m in plugins.analyses.get(a).info.measures]
    assert declared == [
        ("centroids", "crossing_layer", "centroid crossing", "location", 0.75),
        ("centroids", "initiation_layer", "centroid initiation", "location", None),
        ("memorisation-map", "generalisation_score", "generalisation score", "generalisation", None),
        ("memorisation-map", "generalisation_score_corrected", "chance-corrected generalisation score",
         "generalisation", None),
        ("memorisation-map", "normalised_validation_accuracy", "normalised validation accuracy", "generalisation",
         None),
        ("probing-events", "memorisation_layer", "probing memorisation layer", "location", 0.63),
        ("probing-events", "initiation_layer", "probing initiation", "location", None),
    ]


# -- --method all / --method SUITE ---------------------------------------------------------------------
def _names(plugins, names):
    return [m.info.name for m in resolve_methods(plugins, names)]


def test_all_is_the_paper_suite_and_a_suite_name_its_members_in_suite_order(plugins):
    assert _names(plugins, ["all"]) == PAPER  # the paper's order, not the registry's alphabetical one
    assert _names(plugins, ["neurons"]) == NEURONS
    assert _names(plugins, ["paper"]) == PAPER
    assert _names(plugins, ["probing", "all", "zero-out", "neurons"]) == ["probing", *PAPER[:3], *NEURONS]
    assert method_suites(plugins) == {"neurons": NEURONS, "paper": PAPER, "baselines": BASELINES}
    assert _names(plugins, ["baselines"]) == BASELINES
    assert suite_members(plugins, "no-such-suite") == []


def test_a_name_that_is_neither_method_nor_suite_suggests_the_closest(plugins):
    with pytest.raises(UnknownNameError) as exc:
        resolve_methods(plugins, ["neuron"])
    assert exc.value.suggestion == "neurons" and "paper" in exc.value.valid and "all" in exc.value.valid
    with pytest.raises(UnknownNameError) as exc:
        resolve_methods(plugins, ["layer-swaping"])
    assert exc.value.suggestion == "layer-swapping"


def test_third_party_methods_join_suites_after_the_builtins_in_registry_order():
    plugins = _with(_Method("mine-b", suites=("paper", "mine")), _Method("mine-a", suites=("mine",)))
    assert _names(plugins, ["all"]) == [*PAPER, "mine-b"]
    assert _names(plugins, ["mine"]) == ["mine-b", "mine-a"]  # as registered, not sorted
    first = _Method("mine-first", suites=("mine",))
    first.suite_position = 0  # an explicit position goes before the members without one
    assert _names(_with(_Method("mine-b", suites=("mine",)), first), ["mine"]) == ["mine-first", "mine-b"]


def test_all_without_a_paper_method_is_a_clean_error(plugins):
    bare = SimpleNamespace(methods=SimpleNamespace(items={}, names=lambda: [], get=plugins.methods.get))
    with pytest.raises(InvalidInputError, match="suite 'paper'"):
        resolve_methods(bare, ["all"])


# -- tie rules in control scoring --------------------------------------------------------------------
TIED = [0.1, 0.1, 0.3, 0.1, 0.3, 0.1]  # layers 2 and 4 tie at the top


@pytest.mark.parametrize("tie_rule,acc1,rank", [("higher-layer-first", 0.0, 2), ("lower-layer-first", 1.0, 1)])
def test_a_third_party_methods_tie_rule_decides_its_control_scores(tie_rule, acc1, rank):
    from memlocbench.run.method_run import _control

    plugins = _with(_Method("tied-method", tie_rule=tie_rule))
    method = plugins.methods.get("tied-method")
    req = SimpleNamespace(control=True, control_track="pair")
    score = _control(req, None, LayerScores(raw=TIED), TIED, (2, 3), method)
    assert (score.tie_rule, score.accuracy_at_1, score.accuracy_at_2, score.true_layer_rank) == (tie_rule, acc1, 0.5,
                                                                                                  rank)
    # the neuron track too: layer 2 holds most planted neurons (two of three), and it ties with layer 4
    view = SimpleNamespace(meta=lambda role: {"planted_neurons": {"flat_indices": [20, 21, 40], "width": 10}})
    neurons = _control(SimpleNamespace(control=True, control_track="planted"), view, LayerScores(raw=TIED), TIED,
                       None, method)
    assert (neurons.tie_rule, neurons.accuracy_at_1) == (tie_rule, acc1)


# -- the grid asks the plugin objects ----------------------------------------------------------------
#: the stated default rates (seconds per unit of work) the grid used when it named the methods itself
OLD_RATES = {"method:layer-swapping": (0.043, 0.016), "method:layer-retraining": (0.29, 0.2),
             "method:gradient-attribution": (0.022, 0.01), "method:probing": (0.04, 0.003),
             "analysis:memorisation-map": (0.024, 0.0067), "analysis:centroids": (0.013, 0.002),
             "analysis:probing-events": (0.048, 0.003)}


def test_default_rates_come_from_the_plugins_and_keep_their_values(plugins):
    """The stated rates (before any size scaling, ``memlocbench.grid.estimate``) are the plugins' own, with
    the values the grid used when it named the methods itself; a method without any gets the paper suite's
    mean."""
    from memlocbench.grid.estimate import declared_rates

    for category, (cpu, cuda) in OLD_RATES.items():
        kind, name = category.split(":")
        obj = (plugins.methods if kind == "method" else plugins.analyses).get(name)
        rates = declared_rates(obj)
        assert (rates["cpu"], rates["cuda"]) == pytest.approx((cpu, cuda), rel=1e-12), category
    assert declared_rates(plugins.methods.get("random")) is None  # no rates: the suite's mean stands in


def test_work_and_defaults_come_from_the_plugin_objects(plugins):
    from memlocbench.run.settings import profile_config
    from memlocbench.grid.plan import analysis_cost, estimated_work, plugin_defaults

    cfg = profile_config("cpu")
    retraining = plugins.methods.get("layer-retraining")
    params = {**plugin_defaults(retraining), **cfg.methods["layer-retraining"]}
    assert plugin_defaults(retraining)["epochs"] == 5 and estimated_work(retraining, params, 600) == 600 * 2
    assert estimated_work(plugins.methods.get("probing"), plugin_defaults(plugins.methods.get("probing")), 600) == 600
    assert estimated_work(retraining, params, None) is None
    cost = analysis_cost(plugins.analyses.get("memorisation-map"), cfg, 600)
    # until-fit runs (max_epochs 30, at least 6): estimated at the midpoint, 18 epochs
    assert cost == {"category": "analysis:memorisation-map", "rows": 600, "work": 8 * 18 * 300}
    assert analysis_cost(plugins.analyses.get("centroids"), cfg, 600)["work"] == 600

    class Broken:
        info = SimpleNamespace(name="broken")
        defaults = {"runs": 3}

        @staticmethod
        def estimate_work(params, rows):
            return params["missing"] * rows  # a plugin bug must not fail the plan: rows stand in

    assert analysis_cost(Broken(), cfg, 50)["work"] == 50


# -- the neuron-ablation analysis reads the suites from its context ----------------------------------
def test_ablation_defaults_to_the_neuron_suite_then_the_default_suite():
    from memlocbench_analyses.neuron_ablation import default_methods

    granularity = {"a-layer": "layer", "b-neuron": "neuron", "c-layer": "layer"}
    ctx = SimpleNamespace(method_suites={"paper": ["c-layer", "a-layer"], "neurons": ["b-neuron"], "other": ["x"]},
                          method_granularity=granularity)
    assert default_methods(ctx) == ["b-neuron", "c-layer", "a-layer"]
    assert default_methods(SimpleNamespace(method_suites={}, method_granularity=granularity)) == \
        ["b-neuron", "a-layer", "c-layer"]


def test_ablation_default_methods_are_those_of_the_committed_results(plugins):
    import json

    from memlocbench_analyses.neuron_ablation import default_methods

    committed = REPO / "leaderboard/submissions/memlocbench-cpu-baseline/sst2__minilm-l6__analysis-neuron-ablation__3c4270a67207.json"
    ctx = SimpleNamespace(method_suites=method_suites(plugins), method_granularity={})
    assert default_methods(ctx) == json.loads(committed.read_text())["details"]["params"]["methods"] == [*NEURONS, *PAPER]


# -- the example third-party package: metadata alone puts it in the benchmark's views -----------------
@pytest.fixture(scope="module")
def example():
    """The example plugin package, registered as its entry point would (no installation needed here)."""
    sys.path.insert(0, str(REPO / "examples" / "memlocbench-example-plugin"))
    try:
        module = importlib.import_module("memlocbench_example")
    finally:
        sys.path.pop(0)
    return load_plugins(extra=[(module, Provider("memlocbench-example-plugin", "0.1.0"))])


def test_the_example_method_runs_with_method_all(example):
    assert _names(example, ["all"]) == [*PAPER, "weight-change"]
    assert example.methods.provider("weight-change").package == "memlocbench-example-plugin"
    assert example.methods.get("weight-change").info.tie_rule == "lower-layer-first"


def test_the_example_reaches_the_leaderboard_through_its_declarations(example):
    from memlocbench.leaderboard.spec import LeaderboardSpec

    spec = LeaderboardSpec.from_plugins(example)
    assert spec.paper_methods == frozenset([*PAPER, "weight-change"])  # its M-CoG joins the paper methods' mean
    assert spec.higher_layer_ties == frozenset({"layer-swapping"})
    assert [d.label for d in spec.generalisation] == ["generalisation score", "chance-corrected generalisation score",
                                                     "normalised validation accuracy"]
    assert [(d.analysis, d.label) for d in spec.locations] == [
        ("centroids", "centroid crossing"), ("centroids", "centroid initiation"),
        ("probing-events", "probing memorisation layer"), ("probing-events", "probing initiation"),
        ("weight-change-layer", "largest weight change"), (None, "mean M-CoG")]
    measure = example.analyses.get("weight-change-layer").info.measures[0]
    assert measure == Measure(key="top_layer", label="largest weight change", kind="location")


def test_the_example_location_analysis_summarises_and_rechecks(example):
    analysis = example.analyses.get("weight-change-layer")
    per_seed = {"1": {"relative_l2": [0.1, 0.3, 0.2], "top_layer": 2}, "2": {"relative_l2": [0.4, 0.1, 0.2],
                                                                             "top_layer": 1}}
    summary = analysis.summarise(per_seed)
    assert summary["top_layer"] == 1.5 and summary["top_layer_sd"] == pytest.approx(0.5 ** 0.5)
    assert analysis.recheck(summary, {"per_seed": per_seed}) == []
    per_seed["2"]["top_layer"] = 3
    assert any("per_seed.2.top_layer should be 1" in p for p in analysis.recheck(summary, {"per_seed": per_seed}))


# -- plugins import only the public API, and no other plugin package ---------------------------------
PLUGIN_PACKAGES = ("memlocbench_tasks", "memlocbench_models", "memlocbench_methods", "memlocbench_analyses")


@pytest.mark.parametrize("folder", sorted((REPO / "plugins").glob("memlocbench_*"))
                         + [REPO / "examples" / "memlocbench-example-plugin" / "memlocbench_example"],
                         ids=lambda p: p.name)
def test_plugins_import_only_the_api_and_their_own_package(folder):
    own = folder.name
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for mod in modules:
                root = mod.split(".")[0]
                if root == "memlocbench":
                    assert mod == "memlocbench.api", f"{path.name} imports {mod}"
                elif root in PLUGIN_PACKAGES or root == "memlocbench_example":
                    assert root == own, f"{path.name} imports another plugin package: {mod}"
