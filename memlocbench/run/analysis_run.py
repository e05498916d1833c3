"""One analysis run: task -> noisy dataset -> trained models (from the store) -> analysis -> result.

The analysis' output is cached in the store (kind ``analysis-outputs``) under a key of everything it
depends on: its name, version and parameters, the data fingerprint and model, and, when it uses the
trained models, their store keys for every model seed. Analyses may cache their own intermediate
artefacts (the memorisation map caches each training run's logits), so an interrupted run resumes.

The memorisation guard (``config.guard``, as for method results): an analysis that reads the memorising
models (``AnalysisInfo.reads_memorising``) analyses only the model seeds whose memorising model memorised;
the result records every seed's guard. When no seed memorised it analyses them all, warns, and the result
says so (``AnalysisResult.memorised`` is False): the leaderboard leaves it out.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path

from memlocbench import __version__
from memlocbench.run.analysis_context import AnalysisContext
from memlocbench.results.analysis_result import AnalysisResult, guarded_seeds
from memlocbench.errors import AnalysisOutputError
from memlocbench.run.method_run import (RunInputs, RunRequest, _ref, check_plugin_params, layer_scores,
                                        memorisation_stats, non_str_key, prepare, provider_of)
from memlocbench.run.plugin_calls import call_plugin, plugin_label
from memlocbench.registry import Plugins
from memlocbench.run.method_suites import method_suites
from memlocbench.config.profiles import RunConfig
from memlocbench.contracts.protocols import AnalysisOutput
from memlocbench.results.run_result import MemorisationGuard, environment, memorisation_guard
from memlocbench.store import ArtefactStore

OUTPUT_KIND = "analysis-outputs"


@dataclass
class AnalysisRequest:
    analysis: str
    task: str
    model: str
    config: RunConfig
    seeds: list[int] | None = None  # None: the profile's model seeds
    data_dir: Path | None = None
    out_dir: Path = Path("results")
    store: ArtefactStore = field(default_factory=ArtefactStore)
    progress: bool = True
    device: str = "cpu"  # cpu | cuda | auto (memlocbench.run.device); not part of any key


def analysis_spec(analysis, task_meta, model: str, model_version: int, cfg: RunConfig, dataset,
                  models_for_seed: dict, plugins: Plugins) -> dict:
    """What determines an analysis' output (its store key): the analysis, its version and parameters,
    the task, data and model, and, when it uses the trained models, their keys for every model seed
    (``models_for_seed``: seed -> TrainedModels), and, when it reads methods' scores, every registered
    method's version and provider. ``analyse`` and the grid key outputs by this spec."""
    info = analysis.info
    spec = {"kind": OUTPUT_KIND, "analysis": info.name, "analysis_version": info.version,
            "params": cfg.analyses.get(info.name, {}), "task": task_meta.name, "task_version": task_meta.version,
            "data": cfg.data.model_dump(mode="json"), "data_fingerprint": dataset.fingerprint(),
            "model": model, "model_version": model_version}
    if info.uses_methods:
        spec["methods"] = {m: {"version": plugins.methods.get(m).info.version, **provider_of(plugins, "method", m)}
                           for m in sorted(plugins.methods.names())}
    if info.uses_models:
        spec["models"] = {str(s): {role: m.key(role) for role in ("memorising", "clean")}
                          for s, m in models_for_seed.items()}
        if info.reads_memorising:  # which seeds are analysed follows from the models and these thresholds
            spec["guard"] = cfg.guard.model_dump(mode="json")
    trained = next(iter(models_for_seed.values()), None)
    if trained is not None:  # what the analysis computes or trains with: the models' machine settings
        spec.update(trained.identity())
    return spec


def seed_guard(models, cfg: RunConfig) -> MemorisationGuard:
    """The memorisation guard of one model seed's memorising model and clean twin (trained if missing)."""
    return memorisation_guard(memorisation_stats(models), cfg.guard)


@dataclass
class AnalysisOutcome:
    """What ``compute_analysis`` produced: the analysis' output (from the store or computed now), its
    store key, and what the result file records besides."""

    key: str  # of the output in the store (kind ``analysis-outputs``)
    output: AnalysisOutput
    cached: bool  # the output came from the store
    seconds: float  # the compute that produced the output (carried from the store entry when cached)
    prep: RunInputs  # the run of the first analysed seed
    config: RunConfig  # its config, with ``seeds`` = every requested model seed
    seeds: list[int]  # the analysed model seeds
    guards: dict[int, MemorisationGuard] = field(default_factory=dict)  # every seed's, when the guard applies
    wall_seconds: float = 0.0  # this invocation: computing, or reading from the store


def analyse(plugins: Plugins, req: AnalysisRequest, log=print) -> tuple[AnalysisResult, Path]:
    """Run (or read from the store) the analysis and write its result file."""
    return write_analysis(plugins, req, compute_analysis(plugins, req, log))


def compute_analysis(plugins: Plugins, req: AnalysisRequest, log=print) -> AnalysisOutcome:
    """Put the analysis' output in the store, unless it is there already (what the grid's analysis unit
    does), training any missing model on the way; writes no result file."""
    analysis = plugins.analyses.get(req.analysis)
    plugins.tasks.get(req.task)
    plugins.models.get(req.model)
    check_analysis_params(plugins, req.analysis, req.config)  # before any data are read or models trained
    seeds = list(req.seeds or req.config.seeds)
    cfg = req.config.with_seed(seeds[0]).model_copy(update={"seeds": seeds})
    preps = _prepare_seeds(plugins, req, cfg, seeds, log)
    models_for_seed = {s: p.models for s, p in preps.items()}
    guards, analysed = _guard_seeds(analysis.info, models_for_seed, cfg, seeds, log)
    prep = preps[analysed[0]]
    spec = analysis_spec(analysis, prep.task.metadata, req.model, prep.adapter.info.version, cfg, prep.dataset,
                         models_for_seed, plugins)
    cfg = cfg.with_seed(analysed[0]).model_copy(update={"seeds": seeds})  # the first analysed seed's run
    ctx = _context(plugins, req, prep, cfg, analysed, models_for_seed, log)
    key = req.store.key(spec)
    t0 = time.perf_counter()
    label = plugin_label(plugins, "analysis", req.analysis)
    output = _stored_output(req.store, key, label)
    cached = output is not None
    compute = _stored_seconds(req.store, key) if cached else None
    if not cached:
        output = call_plugin(label, "analyse", analysis.analyse, ctx)
        check_analysis_output(output, label)  # never cache what no result file could hold
        compute = time.perf_counter() - t0
        req.store.put(OUTPUT_KIND, key, {"spec": spec, "summary": output.summary, "details": output.details,
                                         "seconds": compute})
    wall = time.perf_counter() - t0
    return AnalysisOutcome(key, output, cached, compute if compute is not None else wall, prep, cfg, analysed,
                           guards, wall)


def check_analysis_params(plugins: Plugins, name: str, config: RunConfig) -> dict | None:
    """The analysis' parameters (``config.analyses[name]``), checked before any work: names and types
    against its ``defaults``, then its own ``check_params``; for an analysis that reads methods' scores,
    the methods' parameters too. Returns the analysis' parameters merged over its defaults."""
    analysis = plugins.analyses.get(name)
    params = check_plugin_params(plugins, "analysis", analysis, config.analyses.get(name, {}))
    if analysis.info.uses_methods:
        for method in plugins.methods.names():
            check_plugin_params(plugins, "method", plugins.methods.get(method), config.methods.get(method, {}))
    return params


def analysis_output_problem(output: object) -> str | None:
    """Why an analysis' output cannot be cached or written as a result (None if it can): an
    ``AnalysisOutput`` whose summary maps strings to finite numbers or None, and whose details are a
    JSON object with string keys and finite numbers."""
    if not isinstance(output, AnalysisOutput):
        return f"it returned {type(output).__name__}, not AnalysisOutput"
    if not isinstance(output.summary, dict) or not isinstance(output.details, dict):
        return "its summary and details must be dicts"
    for k, v in output.summary.items():
        if not isinstance(k, str):
            return f"summary key {k!r} is a {type(k).__name__}, not a string"
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v)):
            return (f"summary.{k} is {v!r}; every summary value must be a finite number, or None where it is "
                    f"undefined (NaN and infinity are not allowed)")
    bad_key = non_str_key(output.details, "details")
    if bad_key:
        return f"{bad_key[0]} has the key {bad_key[1]!r} ({type(bad_key[1]).__name__}); keys must be strings"
    try:
        json.dumps(output.details, allow_nan=False)
    except ValueError as exc:
        if "Out of range float" in str(exc):
            return f"its details hold a non-finite number (NaN or infinity; use None): {exc}"
        return f"its details are not JSON-serialisable ({exc})"
    except (TypeError, RecursionError) as exc:
        return f"its details are not JSON-serialisable ({type(exc).__name__}: {exc})"
    return None


def check_analysis_output(output: object, label: str) -> None:
    """An analysis' output before it is cached; AnalysisOutputError naming the analysis (``label``) otherwise."""
    problem = analysis_output_problem(output)
    if problem:
        raise AnalysisOutputError(f"{label} returned an output memlocbench cannot use: {problem}; nothing was "
                                f"cached")


def _stored_seconds(store: ArtefactStore, key: str) -> float | None:
    """The compute seconds a stored output took in the run that stored it (None before entries recorded it)."""
    seconds = store.meta(OUTPUT_KIND, key).get("seconds")
    return float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else None


def _stored_output(store: ArtefactStore, key: str, label: str) -> AnalysisOutput | None:
    """The output in the store under ``key``, or None: absent, or (written before outputs were checked)
    invalid, then quarantined so that it is recomputed."""
    if not store.has(OUTPUT_KIND, key):
        return None
    saved = store.meta(OUTPUT_KIND, key)
    output = AnalysisOutput(summary=saved.get("summary"), details=saved.get("details"))
    problem = analysis_output_problem(output)
    if problem is None:
        return output
    store.quarantine(OUTPUT_KIND, key, f"the cached output of {label} is invalid: {problem}")
    return None


def _prepare_seeds(plugins: Plugins, req: AnalysisRequest, cfg: RunConfig, seeds: list[int],
                   log) -> dict[int, RunInputs]:
    """Each model seed's prepared run (``cfg`` is the first seed's)."""

    def prepared(config: RunConfig) -> RunInputs:
        return prepare(plugins, RunRequest(task=req.task, model=req.model, methods=[], config=config,
                                           data_dir=req.data_dir, out_dir=req.out_dir, store=req.store,
                                           progress=req.progress, device=req.device))

    prep = prepared(cfg)
    log(f"{prep.task.metadata.name}: {prep.dataset.train_size} training examples "
        f"({len(prep.dataset.noisy_idx)} with perturbed labels), {len(prep.dataset.validation)} validation")
    preps = {seeds[0]: prep}
    preps.update({s: prepared(cfg.with_seed(s)) for s in seeds[1:]})
    return preps


def _guard_seeds(info, models_for_seed: dict, cfg: RunConfig, seeds: list[int],
                 log) -> tuple[dict[int, MemorisationGuard], list[int]]:
    """The memorisation guard of each seed (when the analysis reads the memorising models) and the
    seeds to analyse: those that memorised, or all of them (with a warning) when none did."""
    if not (info.uses_models and info.reads_memorising):
        return {}, seeds
    guards = {s: seed_guard(models_for_seed[s], cfg) for s in seeds}
    analysed, memorised = guarded_seeds(guards)
    for s, g in guards.items():
        if not g.memorised:
            log(f"WARNING: model seed {s}: the memorising model did not memorise ({g.reason}); "
                + (f"analysis {info.name!r} leaves it out" if memorised else
                   f"no seed memorised, so analysis {info.name!r} measures no memorisation and the leaderboard "
                   f"leaves it out"))
    return guards, analysed


def _context(plugins: Plugins, req: AnalysisRequest, prep: RunInputs, cfg: RunConfig, analysed: list[int],
             models_for_seed: dict, log) -> AnalysisContext:
    """The analysis' context on ``prep`` (the first analysed seed's run), with the registered methods'
    scores when the analysis reads them."""
    ctx = AnalysisContext(prep.task.metadata.name, prep.adapter, prep.tokenizer, prep.dataset, prep.train_enc,
                          prep.models, cfg, prep.num_layers, req.progress, val_enc=prep.models.val_enc,
                          store=req.store, seeds=analysed, models_for_seed=models_for_seed.__getitem__, log=log)
    if plugins.analyses.get(req.analysis).info.uses_methods:
        methods = {m: plugins.methods.get(m) for m in plugins.methods.names()}
        run_req = RunRequest(task=req.task, model=req.model, methods=list(methods), config=cfg,
                             data_dir=req.data_dir, out_dir=req.out_dir, store=req.store, progress=req.progress,
                             device=req.device)
        ctx.method_scores = lambda m: layer_scores(run_req, prep, prep.models, methods[m])[0]
        ctx.method_granularity = {m: method.info.granularity for m, method in methods.items()}
        ctx.method_suites = method_suites(plugins)
    return ctx


def write_analysis(plugins: Plugins, req: AnalysisRequest, outcome: AnalysisOutcome) -> tuple[AnalysisResult, Path]:
    """Write the result file of ``outcome`` (from ``compute_analysis``) into ``req.out_dir``; returns the
    result and its path."""
    prep, cfg, output = outcome.prep, outcome.config, outcome.output
    info = plugins.analyses.get(req.analysis).info
    result = AnalysisResult(
        memlocbench_version=__version__,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        task=_ref(plugins, "task", prep.task.metadata.name, prep.task.metadata.version),
        model=_ref(plugins, "model", req.model, prep.adapter.info.version),
        analysis=_ref(plugins, "analysis", info.name, info.version),
        profile_name=cfg.profile, config=cfg.model_dump(mode="json"), config_hash=cfg.hash(),
        params=output.details.get("params", cfg.analyses.get(info.name, {})), seeds=outcome.seeds,
        data_seed=cfg.data.seed, memorisation_guard={str(s): g for s, g in outcome.guards.items()},
        sizes=prep.dataset.sizes(), num_layers=prep.num_layers, summary=output.summary,
        details=output.details, timings={"data": prep.data_seconds, "analysis": outcome.seconds,
                                         "wall": outcome.wall_seconds},
        cached=outcome.cached, environment=environment(),
    )
    return result, result.write(req.out_dir)
