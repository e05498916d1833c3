"""The leaderboard package as a function of its inputs: the page from the result files and the plugins'
declarations (``LeaderboardSpec``), what it falls back to without them, and the package's shape (one way
imports, short functions)."""

from __future__ import annotations

import dataclasses

import ast
import re
from pathlib import Path

import pytest

from memlocbench.config.profiles import PROFILES
from memlocbench.contracts.protocols import Measure
from memlocbench.leaderboard import (AnalysisEntry, Collected, DeclaredMeasure, Entry, LeaderboardSpec, MethodSpec,
                                     collect, control_rows, model_tables, page_methods, render,
                                     unflagged, write_analysis_figures)
from memlocbench.registry import load_plugins
from memlocbench.results.analysis_result import AnalysisResult
from memlocbench.results.run_result import PluginRef

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "leaderboard" / "submissions"
PACKAGE = REPO / "memlocbench" / "leaderboard"
PAPER = frozenset({"layer-swapping", "layer-retraining", "gradient-attribution", "probing"})
G, L = "generalisation", "location"

#: the paper's per-task values the built-in location measures declare (approximate, from its notebooks' figures)
CROSSING_ORDER = {"rte": 10.0, "wic": 11.0, "cola": 13.0, "boolq": 13.0, "mrpc": 14.0, "sst2": 16.0, "sst5": 16.0,
                  "implicithate": 17.0, "emotion": 18.0, "stormfront": 18.0, "trec": 19.0, "reuters": 19.0}
PROBING_ORDER = {"rte": 3.9, "wic": 4.6, "mrpc": 5.1, "boolq": 5.3, "cola": 6.2, "sst5": 6.3, "implicithate": 6.8,
                 "sst2": 6.9, "stormfront": 7.0, "emotion": 7.7, "trec": 8.1, "reuters": 8.7}
SOURCE = "Dankers & Titov 2024, the paper code's notebooks: "

#: what the built-in plugins declare, written out: the page's sections are built from this
BUILTIN_SPEC = LeaderboardSpec(
    paper_methods=PAPER,
    higher_layer_ties=frozenset({"layer-swapping"}),
    measures=(
        DeclaredMeasure("centroids", Measure(
            key="crossing_layer", label="centroid crossing", kind=L, paper_rho=0.75, paper_rho_validation=0.7,
            paper_ordering=CROSSING_ORDER,
            paper_ordering_source=SOURCE + "the centroid crossing layer per task of OPT-1.3B (24 layers; its ordering "
                                           "correlates 0.94 with the 125M models' mean there), read approximately "
                                           "from the published figure",
            description="the layer (1..L) where noisy examples move to their perturbed label's centroid")),
        DeclaredMeasure("centroids", Measure(
            key="initiation_layer", label="centroid initiation", kind=L,
            description="the layer where clean examples first sit nearer their own class centroid")),
        DeclaredMeasure("memorisation-map", Measure(
            key="generalisation_score", label="generalisation score", kind=G,
            description="mean probability of the training label on examples held out of the memorisation map's "
                        "runs (overall, noisy, clean)")),
        DeclaredMeasure("memorisation-map", Measure(
            key="generalisation_score_corrected", label="chance-corrected generalisation score", kind=G,
            description="(GS − b) / (1 − b), b = Σ p_c² for the prior of the labels trained on: 0 for a predictor "
                        "that outputs the label prior, 1 for a perfect one")),
        DeclaredMeasure("memorisation-map", Measure(
            key="normalised_validation_accuracy", label="normalised validation accuracy", kind=G,
            description="the clean twin's validation accuracy, (acc − chance) / (1 − chance)")),
        DeclaredMeasure("probing-events", Measure(
            key="memorisation_layer", label="probing memorisation layer", kind=L, paper_rho=0.63,
            paper_rho_validation=0.61, paper_ordering=PROBING_ORDER,
            paper_ordering_source=SOURCE + "the probing memorisation layer per task, mean of its 4 models (layers "
                                           "1..12), read approximately from the published figure",
            description="the hidden state (0 = embeddings) from which probes fit the noisy labels")),
        DeclaredMeasure("probing-events", Measure(
            key="initiation_layer", label="probing initiation", kind=L,
            description="the hidden state from which probes classify the clean examples")),
    ),
    # the map's flags are code (runs that did not fit their half), taken from the plugin in the tests below
)


#: what the built-in methods declare beside it: the neuron methods and the aggregation over windows
NEURONS = frozenset({"activations", "hard-concrete", "integrated-gradients", "slimming", "zero-out"})
WINDOWS = (("layer-retraining", "windows"), ("layer-swapping", "windows"))


def builtin_methods(plugins) -> MethodSpec:
    """``NEURONS`` and ``WINDOWS`` written out; the methods' ``flags`` are code, taken from the plugins."""
    return MethodSpec(neuron_methods=NEURONS, aggregations=WINDOWS,
                      flaggers=MethodSpec.from_plugins(plugins).flaggers)


@pytest.fixture(scope="module")
def committed() -> Collected:
    out = collect(COMMITTED)
    assert not out.problems and out.entries and out.analyses
    return out


@pytest.fixture(scope="module")
def builtins():
    return load_plugins()


def _section(page: str, title: str) -> str:
    return page.split(f"## {title}")[1].split("\n## ")[0]


def test_the_built_in_plugins_declare_what_the_page_shows(builtins):
    spec = LeaderboardSpec.from_plugins(builtins)
    assert spec.paper_methods >= PAPER and spec.higher_layer_ties == BUILTIN_SPEC.higher_layer_ties
    assert [(d.analysis, d.measure) for d in spec.measures if d.analysis in BUILTIN_SPEC.measure_analyses] == \
        [(d.analysis, d.measure) for d in BUILTIN_SPEC.measures]
    methods = MethodSpec.from_plugins(builtins)
    assert methods.neuron_methods >= NEURONS and not methods.neuron_methods & PAPER
    assert {n for n, a in methods.aggregations if a == "windows"} == {n for n, _ in WINDOWS}


def test_committed_page_is_a_function_of_the_results_and_the_declarations(committed, builtins):
    """The committed page, from the package's pure ``render`` (the CLI test goes through `memlocbench leaderboard`)."""
    methods = page_methods(committed, builtin_methods(builtins))
    spec = dataclasses.replace(BUILTIN_SPEC, analysis_flaggers=LeaderboardSpec.from_plugins(builtins).analysis_flaggers)
    page = render(committed, figures_rel="figures", spec=spec, methods=methods)
    assert page == (REPO / "leaderboard" / "README.md").read_text()


def test_without_declarations_only_what_the_results_tell(committed, tmp_path):
    page = render(committed, figures_rel="figures")
    section = _section(page, "Memorisation vs generalisation")
    assert "_No analysis measures declared" in section and "Spearman" not in section
    assert "| sst2   | zero-out" in _section(page, "Causal ablation track")  # ablation results: known by their shape
    # with no paper suite known, every method counts in a row's mean, neuron methods included
    every, paper = model_tables(committed.entries)[0], model_tables(committed.entries, PAPER)[0]
    cells = [c for c in every.columns if ("cola", c) in every.cells]
    assert any(c not in PAPER for c in cells)
    assert every.row_mean("cola") == pytest.approx(sum(every.cells[("cola", c)].mcog for c in cells) / len(cells))
    assert paper.row_mean("cola") == pytest.approx(
        sum(paper.cells[("cola", c)].mcog for c in cells if c in PAPER) / len(PAPER))
    assert every.row_mean("cola") != pytest.approx(paper.row_mean("cola"))
    # figures: the ablation curves from the results alone, the scatter only with a generalisation score declared
    names = [p.name for p in write_analysis_figures(committed, [every], tmp_path)]
    assert names == ["minilm-l6__neuron_ablation.png"]
    names = [p.name for p in write_analysis_figures(committed, [paper], tmp_path, BUILTIN_SPEC)]
    assert names == ["minilm-l6__mcog_vs_generalisation.png", "minilm-l6__neuron_ablation.png"]


def _analysis(task: str, name: str, summary: dict, params: dict | None = None) -> AnalysisResult:
    ref = lambda n: PluginRef(name=n, version=1, package="pkg", package_version="1")  # noqa: E731
    cfg = PROFILES["cpu"]
    return AnalysisResult(memlocbench_version="0.1.0", created_at="2026-01-01T00:00:00+00:00", task=ref(task),
                          model=ref("m"), analysis=ref(name), profile_name="cpu", config=cfg.model_dump(mode="json"),
                          config_hash=cfg.hash(), params=params or {}, seeds=[1], data_seed=1, sizes={}, num_layers=6,
                          summary=summary, details={}, timings={}, cached=False, environment={})


def test_a_declared_measure_of_any_analysis_joins_the_section():
    """A third-party generalisation score and location: columns, correlations and the paper's rho from
    the declarations alone; a score's noisy/clean split and the runs column only where results carry them."""
    spec = LeaderboardSpec(measures=(
        DeclaredMeasure("gen-x", Measure(key="score", label="transfer accuracy", kind=G)),
        DeclaredMeasure("loc-y", Measure(key="top", label="top weight change layer", kind=L, paper_rho=-0.3))))
    gens, tops = [0.1, 0.4, 0.2, 0.9], [2.0, 5.0, 3.0, 6.0]
    analyses = []
    for i, (g, top) in enumerate(zip(gens, tops)):
        task = f"t{i}"
        split = {"score_noisy": g / 2} if i == 0 else {}
        analyses += [_analysis(task, "gen-x", {"score": g, **split}, {"runs": 4}),
                     _analysis(task, "loc-y", {"top": top, "top_sd": 0.5}), _analysis(task, "other", {"top": 9.0})]
    collected = Collected(analyses=[AnalysisEntry("s", r, f"{i}.json") for i, r in enumerate(analyses)])
    part = _section(render(collected, spec=spec), "Memorisation vs generalisation")
    header = next(line for line in part.splitlines() if line.startswith("| task"))
    assert re.findall(r"\| ([^|]+?) +(?=\|)", header) == [
        "task", "transfer acc.", "transfer (noisy)", "top weight change", "mean M-CoG", "model seeds", "x runs"]
    t0 = next(line for line in part.splitlines() if line.startswith("| t0"))
    assert "0.05" in t0 and "2.00" in t0 and "±" not in t0 and re.search(r"\| 4 +\|$", t0)  # 1 seed: no spread
    assert re.search(r"\| top weight change layer +\| transfer accuracy +\| n < 5 \(n = 4\) +\| -0\.30 +\|", part)
    assert re.search(r"\| mean M-CoG +\| transfer accuracy +\| n < 5 \(n = 0\) +\| 0\.56 +\|", part)
    assert "9.00" not in part  # an analysis that declares no measure is not shown
    assert "memlocbench analyse gen-x|loc-y" in render(Collected(), spec=spec)


def test_the_tie_rule_ranks_results_written_before_the_true_layer_rank(committed):
    """Results without ``control.true_layer_rank`` are ranked from the profile, ties as the method declares."""
    e = next(e for e in committed.entries if e.result.control is not None and e.result.control.track == "pair"
             and e.result.memorisation_guard.memorised)
    r = e.result
    profile = [1.0 / r.num_layers] * r.num_layers  # every layer tied
    old = r.model_copy(update={"layer_weights": profile, "control": r.control.model_copy(update={"true_layer_rank": None})})
    entries = [Entry(e.submission, old)]
    lowest = 1 + min(r.control.placement)
    highest = r.num_layers - max(r.control.placement)
    assert control_rows(entries)[0].rank_text == f"{lowest:.2f}"
    assert control_rows(entries, frozenset({r.method.name}))[0].rank_text == f"{highest:.2f}"


# -- the package's shape ---------------------------------------------------------------------------------
def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(PACKAGE)), ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def test_functions_are_short():
    long = [f"{name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)" for name, tree in _modules()
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 50]
    assert not long


def test_no_private_names_or_cycle_dodging_imports_inside_the_package():
    """Imports inside functions only for slow third-party packages and the pipeline (it imports torch);
    no module imports another's private name."""
    lazy_ok = ("scipy", "matplotlib", "memlocbench.run.method_run", "memlocbench.run.analysis_run")
    for name, tree in _modules():
        for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    assert node.module.startswith(lazy_ok), f"{name}:{fn.name} imports {node.module}"
                elif isinstance(node, ast.Import):
                    assert all(a.name.startswith(lazy_ok) for a in node.names), f"{name}:{fn.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("memlocbench"):
                assert not [a.name for a in node.names if a.name.startswith("_")
                           and not a.name.endswith("__")], f"{name} imports a private name"


def test_the_core_names_no_built_in_method_or_analysis_in_code():
    """Plugin knowledge comes from the declarations: no built-in name as a value the code compares, looks up or
    assigns (the page prose describing the built-in analyses' columns stays as it was)."""
    builtins = {"layer-swapping", "layer-retraining", "gradient-attribution", "probing", "memorisation-map",
                "centroids", "probing-events", "neuron-ablation", "zero-out", "activations", "slimming",
                "hard-concrete", "integrated-gradients"}
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Compare, ast.Dict, ast.Set, ast.List, ast.Tuple, ast.Assign, ast.Call,
                                 ast.Subscript)):
                consts = {n.value for n in ast.iter_child_nodes(node) if isinstance(n, ast.Constant)}
                consts |= {n.value for c in ast.iter_child_nodes(node) if isinstance(c, (ast.List, ast.Tuple))
                           for n in c.elts if isinstance(n, ast.Constant)}
                assert not consts & builtins, f"{name}:{node.lineno} names {consts & builtins}"


def test_the_scatter_leaves_out_flagged_profiles_as_the_page_does(committed, tmp_path, monkeypatch):
    """Probing flags every task's profile at 300 examples (too few noisy test examples): the scatter's mean
    M-CoG is then the other three methods' mean, as in the generalisation section's tables."""
    from memlocbench.leaderboard import analysis_figures

    plugins = load_plugins()
    methods = MethodSpec.from_plugins(plugins)
    drawn = {}
    monkeypatch.setattr(analysis_figures, "_scatter",
                        lambda plt, model, points, xlabel, path: drawn.setdefault(len(drawn), points) and path)
    tables = model_tables(committed.entries, PAPER)
    write_analysis_figures(committed, tables, tmp_path, BUILTIN_SPEC)
    write_analysis_figures(committed, tables, tmp_path, BUILTIN_SPEC, methods)
    every, kept = ({t: y for t, _, y in drawn[i]} for i in (0, 1))
    general = model_tables(unflagged(committed, methods).entries, PAPER)[0]
    assert kept and kept == pytest.approx({t: general.row_mean(t) for t in kept})
    assert all(kept[t] != pytest.approx(every[t]) for t in kept)  # probing's flagged profiles left out
