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
import time
from dataclasses import dataclass, field
from pathlib import Path

from memlocbench import __version__
from memlocbench.run.analysis_context import AnalysisContext
from memlocbench.results.analysis_result import AnalysisResult, guarded_seeds
from memlocbench.run.method_run import RunRequest, _ref, layer_scores, memorisation_stats, prepare, provider_of
from memlocbench.registry import Plugins
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
    return spec


def seed_guard(models, cfg: RunConfig) -> MemorisationGuard:
    """The memorisation guard of one model seed's memorising model and clean twin (trained if missing)."""
    return memorisation_guard(memorisation_stats(models), cfg.guard)


def analyse(plugins: Plugins, req: AnalysisRequest, log=print) -> tuple[AnalysisResult, Path]:
    """Run (or read from the store) the analysis and write its result file."""
    return _analyse(plugins, req, log, write=True)


def compute_analysis(plugins: Plugins, req: AnalysisRequest, log=print) -> tuple[None, str]:
    """Only put the analysis' output in the store (the grid's analysis unit); returns (None, its key)."""
    return _analyse(plugins, req, log, write=False)


def _analyse(plugins: Plugins, req: AnalysisRequest, log, write: bool):
    analysis = plugins.analyses.get(req.analysis)
    plugins.tasks.get(req.task)
    plugins.models.get(req.model)
    seeds = list(req.seeds or req.config.seeds)
    cfg = req.config.with_seed(seeds[0]).model_copy(update={"seeds": seeds})

    def prepared(config: RunConfig):
        return prepare(plugins, RunRequest(task=req.task, model=req.model, methods=[], config=config,
                                           data_dir=req.data_dir, out_dir=req.out_dir, store=req.store,
                                           progress=req.progress, device=req.device))

    prep = prepared(cfg)
    log(f"{prep.task.metadata.name}: {prep.dataset.train_size} training examples "
        f"({len(prep.dataset.noisy_idx)} with perturbed labels), {len(prep.dataset.validation)} validation")
    preps = {seeds[0]: prep}
    preps.update({s: prepared(cfg.with_seed(s)) for s in seeds[1:]})
    models_for_seed = {s: p.models for s, p in preps.items()}
    name, info = analysis.info.name, analysis.info
    guards, analysed, memorised = {}, seeds, True
    if info.uses_models and info.reads_memorising:
        guards = {s: seed_guard(models_for_seed[s], cfg) for s in seeds}
        analysed, memorised = guarded_seeds(guards)
        for s, g in guards.items():
            if not g.memorised:
                log(f"WARNING: model seed {s}: the memorising model did not memorise ({g.reason}); "
                    + (f"analysis {name!r} leaves it out" if memorised else
                       f"no seed memorised, so analysis {name!r} measures no memorisation and the leaderboard "
                       f"leaves it out"))
    prep, spec_cfg = preps[analysed[0]], cfg
    cfg = cfg.with_seed(analysed[0]).model_copy(update={"seeds": seeds})  # the first analysed seed's run
    ctx = AnalysisContext(prep.task.metadata.name, prep.adapter, prep.tokenizer, prep.dataset, prep.train_enc,
                          prep.models, cfg, prep.num_layers, req.progress, val_enc=prep.models.val_enc,
                          store=req.store, seeds=analysed, models_for_seed=models_for_seed.__getitem__, log=log)
    params = cfg.analyses.get(name, {})
    if info.uses_methods:
        methods = {m: plugins.methods.get(m) for m in plugins.methods.names()}
        run_req = RunRequest(task=req.task, model=req.model, methods=list(methods), config=cfg,
                             data_dir=req.data_dir, out_dir=req.out_dir, store=req.store, progress=req.progress,
                             device=req.device)
        ctx.method_scores = lambda m: layer_scores(run_req, prep, prep.models, methods[m])[0]
        ctx.method_granularity = {m: method.info.granularity for m, method in methods.items()}
    spec = analysis_spec(analysis, prep.task.metadata, req.model, prep.adapter.info.version, spec_cfg, prep.dataset,
                         models_for_seed, plugins)
    key = req.store.key(spec)
    t0 = time.perf_counter()
    cached = req.store.has(OUTPUT_KIND, key)
    if cached:
        saved = req.store.meta(OUTPUT_KIND, key)
        output = AnalysisOutput(summary=saved["summary"], details=saved["details"])
    else:
        output = analysis.analyse(ctx)
        req.store.put(OUTPUT_KIND, key, {"spec": spec, "summary": output.summary, "details": output.details})
    seconds = time.perf_counter() - t0
    if not write:
        return None, key
    result = AnalysisResult(
        memlocbench_version=__version__,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        task=_ref(plugins, "task", prep.task.metadata.name, prep.task.metadata.version),
        model=_ref(plugins, "model", req.model, prep.adapter.info.version),
        analysis=_ref(plugins, "analysis", name, info.version),
        profile_name=cfg.profile, config=cfg.model_dump(mode="json"), config_hash=cfg.hash(),
        params=output.details.get("params", params), seeds=analysed, data_seed=cfg.data.seed,
        memorisation_guard={str(s): g for s, g in guards.items()},
        sizes=prep.dataset.sizes(), num_layers=prep.num_layers, summary=output.summary,
        details=output.details, timings={"data": prep.data_seconds, "analysis": seconds}, cached=cached,
        environment=environment(),
    )
    return result, result.write(req.out_dir)
