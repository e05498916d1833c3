"""One run: task -> noisy dataset -> trained models (from the store) -> methods -> results.

Every stage that takes time is cached in the artefact store: the trained models, and each
method's layer scores (keyed by the models they were computed from and the method's version and
parameters). A repeated or interrupted run recomputes only what is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memlocbench import __version__
from memlocbench.run import preflight
from memlocbench.data.decoy_rows import decoy_rows
from memlocbench.data.encoding import encode
from memlocbench.data.noise import stratified_subsample
from memlocbench.data.noisy_dataset import build_noisy_dataset
from memlocbench.run.device import resolve_device
from memlocbench.errors import InvalidInputError, MethodOutputError, PluginFailedError
from memlocbench.scoring.layer_weights import layer_ranking, mcog, normalise
from memlocbench.run.method_context import MethodContext, merge_params
from memlocbench.run.method_suites import expand_method_names
from memlocbench.run.plugin_calls import call_plugin, plugin_label
from memlocbench.registry import Plugins
from memlocbench.config.profiles import RunConfig
from memlocbench.contracts.protocols import LayerScores
from memlocbench.results.run_result import (CONTROL_TRACKS, SINGLE_TRACKS, WEIGHTS_SUM_TOLERANCE, control_roles,
                                            is_planted, is_routed, MemorisationStats, PluginRef, Result,
                                            RunSummary, control_score, environment, memorisation_guard,
                                            neuron_control_score, summarise)
from memlocbench.store import ArtefactStore
from memlocbench.training.trained_models import (CONTROL_NORMALISER, PLANTED, PLANTED_ROUTED, TrainedModels, control_placements,
                                                 single_layer_placements)

SCORES_KIND = "layer-scores"
#: the tensor file of a neuron method's entry in the store: {"neurons": [L, d_ff]}
NEURON_TENSORS = "neurons"


@dataclass
class RunRequest:
    task: str
    model: str
    methods: list[str]
    config: RunConfig
    data_dir: Path | None = None
    out_dir: Path = Path("results")
    store: ArtefactStore = field(default_factory=ArtefactStore)
    progress: bool = True
    control: bool = False  # run on the control models (known memorisation layers) instead
    device: str = "cpu"  # cpu | cuda | auto (memlocbench.run.device); not part of any key
    placements: list[tuple[int, int]] | None = None  # with control: only these placements (default: all three)
    control_track: str = "pair"  # "pair": the paper's two-layer placements; "single": one layer each;
    # "planted": the main task may update only the planted neurons (the neuron ground-truth track)


@dataclass
class RunOutput:
    results: list[Result]
    paths: list[Path]
    summary: RunSummary | None = None
    summary_path: Path | None = None


def memorisation_stats(models) -> dict[str, MemorisationStats]:
    """How far the memorising model and its clean twin fit the perturbed labels (each trained if missing)."""
    return {role: MemorisationStats(**models.memorisation_stats(role)) for role in ("memorising", "clean")}


def _ref(plugins: Plugins, kind: str, name: str, version: int) -> PluginRef:
    prov = plugins.registry(kind).provider(name)
    return PluginRef(name=name, version=version, package=prov.package, package_version=prov.version)


def provider_of(plugins: Plugins, kind: str, name: str) -> dict[str, str]:
    """The (package, version) that provided a plugin object: part of every cache key."""
    prov = plugins.registry(kind).provider(name)
    return {"package": prov.package, "version": prov.version}


def model_providers(plugins: Plugins, task: str, model: str) -> dict[str, dict[str, str]]:
    return {"task": provider_of(plugins, "task", task), "model": provider_of(plugins, "model", model)}


def check_method_output(scores: object, num_layers: int, method: str, package: str,
                        neuron_width: int | None = None) -> None:
    """A method's output before it is cached: exactly ``num_layers`` finite, non-negative real
    weights and JSON-serialisable details, and for a neuron method (``neuron_width`` = d_ff) a finite
    [num_layers, d_ff] neuron tensor; otherwise a MethodOutputError naming the method."""
    where = f"method {method!r} (package {package})"
    if not isinstance(scores, LayerScores):
        raise MethodOutputError(f"{where} returned {type(scores).__name__}, not LayerScores; nothing was cached")
    raw = scores.raw
    if not isinstance(raw, (list, tuple)) or len(raw) != num_layers:
        n = len(raw) if isinstance(raw, (list, tuple)) else type(raw).__name__
        raise MethodOutputError(f"{where} returned {n} layer weights for a {num_layers}-layer model; "
                                f"it must return exactly {num_layers}; nothing was cached")
    for i, x in enumerate(raw, start=1):
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x < 0:
            raise MethodOutputError(f"{where} returned {x!r} as the weight of layer {i}; every weight must be a "
                                    f"finite, non-negative real number; nothing was cached")
    _check_normalisable([float(x) for x in raw], where)
    if not isinstance(scores.details, dict):
        raise MethodOutputError(f"{where} returned details of type {type(scores.details).__name__}; they must be a "
                                f"dict with string keys; nothing was cached")
    bad_key = non_str_key(scores.details, "details")
    if bad_key:
        raise MethodOutputError(f"{where} returned details with the key {bad_key[1]!r} "
                                f"({type(bad_key[1]).__name__}) in {bad_key[0]}; every key must be a string (JSON "
                                f"turns other keys into strings, so a rerun from the store would differ); "
                                f"nothing was cached")
    try:
        json.dumps(scores.details, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise MethodOutputError(f"{where} returned details that are not JSON-serialisable ({exc}); "
                                f"nothing was cached") from None
    if neuron_width is not None or scores.neurons is not None:
        _check_neurons(scores, num_layers, neuron_width, where)


def _check_normalisable(raw: list[float], where: str) -> None:
    """What the pipeline computes from the weights (their sum, the normalised profile, its M-CoG) must be
    finite, with the profile summing to 1: weights near the float maximum (1e308) overflow their sum."""
    total = sum(raw)
    problem = None
    if not math.isfinite(total):
        problem = f"they sum to {total} (overflow)"
    else:
        profile = normalise(raw)
        if not all(math.isfinite(w) for w in profile) or abs(sum(profile) - 1) > WEIGHTS_SUM_TOLERANCE \
                or not math.isfinite(mcog(profile)):
            problem = "normalised to sum 1 they are not finite"
    if problem:
        biggest = max(raw) if raw else 0.0
        raise MethodOutputError(f"{where} returned layer weights up to {biggest:g}: {problem}; scale them so that "
                                f"their sum is a finite number (e.g. divide by the largest); nothing was cached")


def non_str_key(value: object, where: str, depth: int = 0) -> tuple[str, object] | None:
    """The first dict key in ``value`` (JSON-like) that is not a string, as (where, key), or None. Deeper than
    JSON can nest is left to the serialisation check."""
    if depth > 500:
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return where, k
            found = non_str_key(v, f"{where}.{k}", depth + 1)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = non_str_key(v, f"{where}[{i}]", depth + 1)
            if found:
                return found
    return None


def _check_neurons(scores: LayerScores, num_layers: int, width: int | None, where: str) -> None:
    """A neuron method's output: a finite float tensor [L, d_ff] (d_ff = ``width`` when known)."""
    import torch

    n = scores.neurons
    if width is not None and n is None:
        raise MethodOutputError(f"{where} is a neuron method but returned no neuron scores (LayerScores.neurons); "
                                f"nothing was cached")
    if not isinstance(n, torch.Tensor) or not n.is_floating_point() or n.ndim != 2 or n.shape[0] != num_layers \
            or (width is not None and n.shape[1] != width):
        shape = tuple(n.shape) if isinstance(n, torch.Tensor) else type(n).__name__
        raise MethodOutputError(f"{where} returned neuron scores of shape {shape}; they must be a float tensor "
                                f"[{num_layers}, {width or 'd_ff'}]; nothing was cached")
    if not bool(torch.isfinite(n).all()):
        raise MethodOutputError(f"{where} returned non-finite neuron scores; nothing was cached")
    if not bool(torch.isfinite(n.detach().float()).all()):  # they are stored as float32
        raise MethodOutputError(f"{where} returned neuron scores beyond float32's range (about 3.4e38), which "
                                f"they are stored in; scale them down; nothing was cached")


def layer_scores_spec(method, config: RunConfig, models: TrainedModels, method_provider: dict[str, str]) -> dict:
    """What determines a method's layer scores: the method, its version and parameters, and the keys
    of the memorising model and clean twin it ran on (through ``models``' aliases). ``run`` and the
    grid key layer scores by this spec."""
    name = method.info.name
    spec = {
        "kind": "layer-scores",
        "method": name,
        "method_version": method.info.version,
        "method_params": config.methods.get(name, {}),
        "method_provider": method_provider,
        "models": {role: models.key(role) for role in ("memorising", "clean")},
    }
    if models.device == "cpu":  # a method's float sums (and what it retrains) depend on the thread count
        spec["cpu_threads"] = models.threads
    if "classifier-only" in models.aliases:  # the control normaliser (for methods with that extra model)
        spec["models"]["classifier-only"] = models.key("classifier-only")
    return spec


@dataclass
class RunInputs:
    """Everything of a run that does not depend on the method: task, model adapter, tokenised noisy
    dataset and the trained models (trained on demand, through the store)."""

    task: Any
    adapter: Any
    tokenizer: Any
    dataset: Any
    train_enc: Any
    models: TrainedModels
    num_layers: int
    data_seconds: float
    plugins: Any = None  # the registries it was prepared from (method providers for cache keys)


def prepare(plugins: Plugins, req: RunRequest) -> RunInputs:
    """Load the task, build the noisy dataset, tokenise it and set up the trained models."""
    task = plugins.tasks.get(req.task)
    adapter = plugins.models.get(req.model)
    cfg = req.config
    device = resolve_device(req.device)
    # preflight: whatever would fail (or give nothing) after the training fails now
    preflight.check_writable(req.store.root, "artefact store", "--cache-dir or $MEMLOCBENCH_CACHE_DIR")
    preflight.check_writable(req.out_dir, "output folder", "--out")
    t0 = time.perf_counter()
    tokenizer = adapter.load_tokenizer()
    preflight.check_max_length(cfg.data.max_length, adapter, tokenizer, req.model)
    dataset = build_noisy_dataset(task, cfg.data, req.data_dir, adapter.separator(tokenizer))
    preflight.check_noisy_examples(dataset, cfg.data.noise_fraction, cfg.data.train_size)
    train_enc = encode(tokenizer, dataset.train_texts, cfg.data.max_length, device)
    val_enc = encode(tokenizer, dataset.validation.texts, cfg.data.max_length, device)
    seconds = time.perf_counter() - t0

    def aux_loader():
        aux_task = plugins.tasks.get(cfg.control.aux_task)
        data = aux_task.load(req.data_dir, cfg.data.seed, adapter.separator(tokenizer)).train
        if cfg.control.aux_train_size is not None and cfg.control.aux_train_size < len(data):
            data = data.select(stratified_subsample(data.labels, cfg.control.aux_train_size, cfg.data.seed))
        return encode(tokenizer, data.texts, cfg.data.max_length, device), data.labels, aux_task.metadata.num_labels

    def decoy_loader(n: int):
        rows = decoy_rows(dataset.spare_train, n, dataset.num_labels, cfg.data.seed, task.metadata.name)
        return encode(tokenizer, rows.texts, cfg.data.max_length, device), rows

    models = TrainedModels(req.store, adapter, req.model, task.metadata.name, task.metadata.version,
                           dataset, train_enc, val_enc, cfg, progress=req.progress, aux_loader=aux_loader,
                           device=device, providers=model_providers(plugins, task.metadata.name, req.model),
                           decoy_loader=decoy_loader)
    num_layers = len(adapter.layer_modules(models.pretrained()))
    preflight.check_layers(num_layers, adapter, req.model)
    return RunInputs(task, adapter, tokenizer, dataset, train_enc, models, num_layers, seconds, plugins)


def model_setups(task_name: str, config: RunConfig, num_layers: int, control: bool,
           placements: list[tuple[int, int]] | None = None, track: str = "pair") -> list[tuple[dict, tuple | None]]:
    """The (role aliases, control placement) pairs a run localises on: the memorising model and its
    twin, or (control) each placement's control model and its clean twin (``placements``: only
    these; default all three), or (track "planted") the planted-neuron models, placement None."""
    if not control:
        return [({}, None)]
    if task_name == config.control.aux_task:
        raise InvalidInputError(f"the control setup trains {config.control.aux_task!r} as its auxiliary task; "
                                f"choose another main task")
    if track not in CONTROL_TRACKS:
        raise InvalidInputError(f"unknown control track {track!r}; valid: {', '.join(CONTROL_TRACKS)}")
    # gradient attribution's normaliser: the control recipe without main layers; on the routed tracks, which
    # train no auxiliary task, the standard classifier-only model
    normaliser = "classifier-only" if is_routed(track) else CONTROL_NORMALISER
    if is_planted(track):
        if placements is not None:
            raise InvalidInputError("the neuron tracks have no layer placements; leave them out")
        role = PLANTED if track == "planted" else PLANTED_ROUTED
        return [({"memorising": role, "clean": f"{role}-clean", "classifier-only": normaliser}, None)]
    valid = (single_layer_placements if track in SINGLE_TRACKS else control_placements)(num_layers)
    chosen = valid if placements is None else [tuple(p) for p in placements]
    if any(p not in valid for p in chosen):
        raise InvalidInputError(f"control placements {chosen} are not among this model's {valid}")
    return [(dict(zip(("memorising", "clean"), control_roles(track, (a, b))), **{"classifier-only": normaliser}),
             (a, b)) for a, b in chosen]


def layer_scores(req: RunRequest, prep: RunInputs, setup_models: TrainedModels, method) -> tuple[LayerScores, bool]:
    """A method's layer scores on the models of ``setup_models``: from the store, or computed and stored.
    Returns (scores, whether they came from the store)."""
    scores, cached, _ = layer_scores_with_cost(req, prep, setup_models, method)
    return scores, cached


def layer_scores_with_cost(req: RunRequest, prep: RunInputs, setup_models: TrainedModels,
                           method) -> tuple[LayerScores, bool, float | None]:
    """``layer_scores`` and the seconds the scores took to compute, in the run that computed them (read
    from the store entry when cached; None for an entry stored before entries recorded it)."""
    name = method.info.name
    spec = layer_scores_spec(method, req.config, setup_models, provider_of(prep.plugins, "method", name))
    key = req.store.key(spec)
    neuron = getattr(method.info, "granularity", "layer") == "neuron"
    if req.store.has(SCORES_KIND, key) and (not neuron or req.store.has_tensors(SCORES_KIND, key, NEURON_TENSORS)):
        saved = req.store.meta(SCORES_KIND, key)
        neurons = req.store.tensors(SCORES_KIND, key, NEURON_TENSORS)["neurons"] if neuron else None
        stored = LayerScores(raw=saved.get("raw"), details=saved.get("details"), neurons=neurons)
        try:  # an entry cached before outputs were checked this far is recomputed, not served
            check_method_output(stored, prep.num_layers, name, provider_of(prep.plugins, "method", name)["package"])
            seconds = saved.get("seconds")
            return stored, True, float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else None
        except MethodOutputError as exc:
            req.store.quarantine(SCORES_KIND, key, f"the cached output is invalid: {exc}")
    ctx = MethodContext(prep.task.metadata.name, prep.adapter, prep.tokenizer, prep.dataset, prep.train_enc, setup_models,
                        req.config, prep.num_layers, req.progress)
    t0 = time.perf_counter()
    scores = call_plugin(plugin_label(prep.plugins, "method", name), "localise", method.localise, ctx)
    width = ffn_width(prep.adapter, setup_models) if neuron else None
    check_method_output(scores, prep.num_layers, name, prep.plugins.registry("method").provider(name).package,
                        neuron_width=width)
    neurons = scores.neurons.detach().float().cpu() if neuron else None
    scores = LayerScores(raw=[float(x) for x in scores.raw], details=scores.details, neurons=neurons)
    seconds = time.perf_counter() - t0
    req.store.put(SCORES_KIND, key, {"spec": spec, "raw": scores.raw, "details": scores.details,
                                     "num_layers": prep.num_layers, "seconds": seconds},
                  tensors={NEURON_TENSORS: {"neurons": neurons}} if neuron else None)
    return scores, False, seconds


def ffn_width(adapter, setup_models: TrainedModels) -> int:
    """d_ff of the memorising model: the input width of its layers' feed-forward down-projections."""
    from memlocbench.models.neuron_masks import ffn_shape

    return ffn_shape(adapter, setup_models.load("memorising"))[1]


def _run_method(plugins, req, prep: RunInputs, setup_models, method, stats, timings, placement) -> Result:
    cfg = req.config
    name = method.info.name
    t0 = time.perf_counter()
    scores, cached, compute = layer_scores_with_cost(req, prep, setup_models, method)
    timings["wall"] = timings.pop("wall", 0.0) + time.perf_counter() - t0
    # the compute that produced the scores, carried from the store entry when they were cached
    timings["method"] = compute if compute is not None else time.perf_counter() - t0
    num_layers, dataset, task, adapter = prep.num_layers, prep.dataset, prep.task, prep.adapter
    weights = normalise(scores.raw)
    return Result(
        memlocbench_version=__version__,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        task=_ref(plugins, "task", task.metadata.name, task.metadata.version),
        model=_ref(plugins, "model", req.model, adapter.info.version),
        method=_ref(plugins, "method", name, method.info.version),
        settings_profile=cfg.profile,
        config=cfg.model_dump(mode="json"),
        config_hash=cfg.hash(),
        seeds={"data_seed": cfg.data.seed, "model_seed": cfg.train.seed},
        sizes=dataset.sizes(),
        memorisation=stats,
        num_layers=num_layers,
        details=scores.details,
        raw_weights=scores.raw,
        layer_weights=weights,
        weights_all_zero=sum(scores.raw) == 0,
        mcog=mcog(weights),
        control=_control(req, setup_models, scores, weights, placement, method),
        memorisation_guard=memorisation_guard(stats, cfg.guard),
        timings=timings,
        cached={"memorising": not stats["memorising"].trained_in_this_run,
                "clean": not stats["clean"].trained_in_this_run, "method": cached},
        environment=environment(),
    )


def _control(req: RunRequest, setup_models: TrainedModels, scores: LayerScores, profile: list[float], placement,
             method):
    """The result's control block: against the placement layers (pair, single), or against the
    planted neurons (neurons track; recall@k for a neuron method); None outside the control setup.
    Layers of equal weight are ranked by the method's ``MethodInfo.tie_rule``, which the block records."""
    tie_rule = getattr(method.info, "tie_rule", "lower-layer-first")
    if req.control and is_planted(req.control_track):
        planted = setup_models.meta("memorising")["planted_neurons"]
        neurons = scores.neurons if getattr(method.info, "granularity", "layer") == "neuron" else None
        return neuron_control_score(profile, planted["flat_indices"], planted["width"], tie_rule, neurons,
                                    track=req.control_track)
    return control_score(profile, placement, tie_rule, req.control_track) if placement else None


def profile_flags(plugins: Plugins, method, details: dict) -> list[str]:
    """The method's own reasons (its optional ``flags(details)``) why a profile it produced is degenerate."""
    flags = getattr(method, "flags", None)
    if not callable(flags):
        return []
    reasons = call_plugin(plugin_label(plugins, "method", method.info.name), "flags", flags, details)
    if not isinstance(reasons, (list, tuple)) or not all(isinstance(r, str) for r in reasons):
        raise PluginFailedError(f"method {method.info.name!r}: its flags() returned {reasons!r}, not a list of "
                                f"reasons (strings)")
    return list(reasons)


def check_plugin_params(plugins: Plugins, kind: str, plugin, given: dict[str, Any]) -> dict[str, Any] | None:
    """A method's or analysis' parameters from the run config (``given``), checked before any work: against
    its ``defaults`` (names and types, as ``ctx.params`` checks them), then by its optional
    ``check_params(params, registered)``, which gets them merged over the defaults and the registered
    plugins' names by kind. Returns the merged parameters (None for a plugin without ``defaults``, which
    takes no parameters);
    InvalidInputError naming the plugin and every problem."""
    name = plugin.info.name
    defaults = getattr(plugin, "defaults", None)
    if not isinstance(defaults, dict):
        if given:  # a plugin that declares no parameters takes none
            raise InvalidInputError(f"{kind} {name!r} takes no parameters (it declares no `defaults`), got "
                                    f"{', '.join(sorted(map(str, given)))}")
        return None
    params = merge_params(kind, name, given, defaults)
    check = getattr(plugin, "check_params", None)
    if callable(check):
        registered = {k: list(plugins.registry(k).names()) for k in ("task", "model", "method", "analysis")}
        problems = call_plugin(plugin_label(plugins, kind, name), "check_params", check, dict(params), registered)
        if problems:
            if not isinstance(problems, (list, tuple)) or not all(isinstance(p, str) for p in problems):
                problems = [f"its check_params returned {problems!r}, not a list of problems (strings)"]
            raise InvalidInputError(f"{kind} {name!r}: {'; '.join(problems)}")
    return params


def resolve_methods(plugins: Plugins, names: list[str]) -> list:
    """Method objects for ``names``, each once, in order: a method's name, a suite's name (its members,
    ``MethodInfo.suites``) or ``all`` (the members of the default suite); anything else is an
    UnknownNameError with the closest name suggested."""
    return [plugins.methods.get(m) for m in expand_method_names(plugins, names)]


def run(plugins: Plugins, req: RunRequest, log=print) -> RunOutput:
    # Resolve every name first, so a typo fails before any work is done.
    plugins.tasks.get(req.task)
    plugins.models.get(req.model)
    methods = resolve_methods(plugins, req.methods)
    for method in methods:  # bad parameters fail before any data are read or models trained
        check_plugin_params(plugins, "method", method, req.config.methods.get(method.info.name, {}))
    prep = prepare(plugins, req)
    timings: dict[str, float] = {"data": prep.data_seconds}
    dataset, models = prep.dataset, prep.models
    log(f"{prep.task.metadata.name}: {dataset.train_size} training examples "
        f"({len(dataset.noisy_idx)} with perturbed labels), {len(dataset.validation)} validation")

    results, paths = [], []
    for aliases, placement in model_setups(prep.task.metadata.name, req.config, prep.num_layers, req.control,
                                      req.placements, req.control_track):
        setup_models = models.for_setup(aliases)
        t0 = time.perf_counter()
        for role in ("memorising", "clean"):
            setup_models.ensure(role)
        timings["wall"] = time.perf_counter() - t0  # this invocation: training, or reading from the store
        stats = memorisation_stats(setup_models)
        # the compute that trained the two models, carried from their store entries
        timings["training"] = sum(stats[r].train_seconds for r in ("memorising", "clean"))
        m, c = stats["memorising"], stats["clean"]
        log(f"{m.role}: fits {m.noisy_fit_perturbed:.1%} of noisy examples to their perturbed labels "
            f"(first fitted at epoch {m.first_fit_epoch}); {c.role} predicts the perturbed label for "
            f"{c.noisy_fit_perturbed:.1%} of them" + ("" if setup_models.trained_now else " [models from the store]"))
        guard = memorisation_guard(stats, req.config.guard)
        if not guard.memorised:
            log(f"WARNING: NOT MEMORISED: {m.role} on {prep.task.metadata.name} ({guard.reason}, after "
                f"{guard.epochs_trained} epochs); its layer profiles measure no memorisation and the "
                f"leaderboard leaves them out. Train longer (profile train.until_fit, --epochs) or on more data.")
        for method in methods:
            result = _run_method(plugins, req, prep, setup_models, method, stats, dict(timings), placement)
            for reason in profile_flags(plugins, method, result.details):
                log(f"NOTE: {method.info.name}'s profile is degenerate: {reason}")
            results.append(result)
            paths.append(result.write(req.out_dir))
    output = RunOutput(results, paths)
    if len(methods) > 1 or req.control:
        output.summary = summarise(results, req.control, req.control_track if req.control else None)
        output.summary_path = output.summary.write(req.out_dir)
    return output
