"""The grid as units: each training, each method on its models and each analysis, with dependencies
and the store keys ``memlocbench run`` and ``memlocbench analyse`` use (``TrainedModels.key``,
``method_run.layer_scores_spec``, ``analysis_run.analysis_spec``).

A key needs the noisy dataset's fingerprint, so planning builds each task's dataset and each model
once (no training). Where that is impossible here (a hub-only model or task offline), the unit is
still planned and counted, with ``key=None`` and the reason in ``problem``: it can be estimated but
not checked against the store. Where the settings themselves are wrong (a training size larger than
the task, ...), the reason is also in ``Plan.errors``: a dry run shows it, a run refuses to start.

Planning is linear in the number of units: every look-up (units by id, by store key, datasets,
models, sizes) is a dict; nothing scans the units planned so far (``tests/grid/test_plan_scaling.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from memlocbench.run.analysis_run import OUTPUT_KIND as ANALYSIS_KIND
from memlocbench.run.analysis_run import analysis_spec, check_analysis_params
from memlocbench.data.noisy_dataset import build_noisy_dataset
from memlocbench.errors import MemlocbenchError
from memlocbench.grid.config import GridConfig, SubGrid
from memlocbench.grid.estimate import (TOKEN_SAMPLE_ROWS, ModelSize, declared_rates, describe_size, mean_rates,
                                       sized_rates, training_rates)
from memlocbench.run.method_run import (SCORES_KIND, check_plugin_params, layer_scores_spec, model_providers,
                                        model_setups, provider_of, resolve_methods)
from memlocbench.models.model_digest import model_digest
from memlocbench.run.device import resolve_device
from memlocbench.run.method_suites import DEFAULT_SUITE, suite_members
from memlocbench.registry import Plugins, default_model
from memlocbench.config.profiles import RunConfig
from memlocbench.store import ArtefactStore
from memlocbench.training.trained_models import KIND as MODEL_KIND
from memlocbench.training.trained_models import TrainedModels, recipe_for

#: the paper's models have 12 layers; only used to name control placements when a model cannot be loaded here
ASSUMED_LAYERS = 12


@dataclass
class Unit:
    id: str
    kind: str  # a key of grid.units.UNIT_KINDS
    store_kind: str
    key: str | None  # None: not computable here (see problem)
    deps: list[str]
    payload: dict[str, Any]  # JSON-able: all a worker needs (grid.units.run_unit)
    problem: str | None = None

    @property
    def cost(self) -> dict[str, Any]:
        return self.payload["cost"]


@dataclass
class Group:
    """What one ``memlocbench run`` invocation (one seed) would do: its result files are written from
    the store once all its units are there."""

    payload: dict[str, Any]  # task, model, methods, config, control, ...
    unit_ids: list[str]


@dataclass
class Plan:
    units: list[Unit]  # dependency order: every unit after the units it depends on
    groups: list[Group]
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # wrong settings (exit code 2 errors): a run refuses them
    sizes: dict[str, str] = field(default_factory=dict)  # "task/model (max length)" -> how its rates were scaled

    def by_id(self) -> dict[str, Unit]:
        return {u.id: u for u in self.units}


def _names(registry, wanted) -> list[str]:
    names = registry.names() if wanted == "all" else list(wanted)
    for n in names:
        registry.get(n)  # unknown names fail here, with a suggestion
    return names


class _Planner:
    def __init__(self, plugins: Plugins, cfg: GridConfig, store: ArtefactStore):
        self.plugins, self.cfg, self.store = plugins, cfg, store
        # the thread count and device every unit runs with: part of the keys planned here
        self.threads = cfg.unit_threads() if cfg is not None else None
        # (named devices as they are: a Ray cluster's GPUs need not be visible to the driver)
        self.device = "cpu" if cfg is None else cfg.device if cfg.device != "auto" else resolve_device("auto")
        self.units: dict[str, Unit] = {}
        self._by_key: dict[tuple[str, str], str] = {}  # (store kind, key) -> id of the unit kept
        self.alias: dict[str, str] = {}  # unit id -> id of the identical unit kept (same store key)
        self.groups: list[Group] = []
        self.problems: list[str] = []
        self.errors: dict[str, None] = {}  # ordered set
        self._datasets: dict[tuple, Any] = {}
        self._layers: dict[str, int | str] = {}
        self._parameters: dict[str, int | None] = {}
        self._tokenizers: dict[str, Any] = {}
        self._sizes: dict[tuple, ModelSize] = {}
        self._described: dict[str, str] = {}
        self._task_rows: dict[tuple, Any] = {}
        self._aux_rows: dict[tuple, int | None] = {}
        self._fallback_rates = mean_rates([r for m in suite_members(plugins, DEFAULT_SUITE)
                                           if (r := declared_rates(plugins.methods.get(m))) is not None])

    def _problem(self, exc: MemlocbenchError) -> str:
        """An exception as a plan problem; wrong settings (exit code 2) are also plan errors."""
        if getattr(exc, "exit_code", 1) == 2:  # wrong settings: the message alone, as the CLI prints it
            text = str(exc)
            self.errors[text] = None
            return text
        return f"{type(exc).__name__}: {exc}"

    def _size(self, task: str, model: str, config: RunConfig) -> ModelSize:
        """The model's size for the assumed rates: its parameters (None where it cannot be built here)
        x the task's mean tokens per row under its tokenizer and max length (None where unknown)."""
        ident = (task, model, config.data.model_dump_json())
        if ident not in self._sizes:
            declared = self.plugins.models.get(model).info.num_layers
            if model not in self._layers:  # the dataset could not be built: the model may still be
                self._num_layers(model, self.plugins.tasks.get(task).metadata.num_labels)
            size = ModelSize(self._parameters.get(model), self._tokens(task, model, config), declared)
            self._sizes[ident] = size
            self._described.setdefault(f"{task}/{model} (max length {config.data.max_length})", describe_size(size))
        return self._sizes[ident]

    def _tokens(self, task: str, model: str, config: RunConfig) -> float | None:
        """The mean tokens per row of up to ``TOKEN_SAMPLE_ROWS`` training rows (None where unknown)."""
        tokenizer = self._loaded_tokenizer(model)
        if tokenizer is None:
            return None
        dataset = self._dataset(task, model, config)
        texts = dataset.train_texts if not isinstance(dataset, str) else None
        if texts is None:
            full = self._task_train(task, config, model)
            texts = full.texts if full is not None else None
        if not texts:
            return None
        try:
            ids = tokenizer(texts[:TOKEN_SAMPLE_ROWS], truncation=True,
                            max_length=config.data.max_length or 512)["input_ids"]
            return sum(len(x) for x in ids) / len(ids)
        except Exception:  # noqa: BLE001 - an estimate never fails the plan; the reference's tokens stand in
            return None

    def _rates(self, obj, task: str, model: str, config: RunConfig) -> dict[str, float]:
        """A method's or analysis' default rates on ``model`` (its own, else the default suite's mean)."""
        return sized_rates(declared_rates(obj) or self._fallback_rates, self._size(task, model, config))

    # -- what planning needs from data and models -----------------------------------------------
    def _tokenizer(self, model: str):
        """The model's tokenizer, loaded once (a failure to load it is raised again at every call)."""
        if model not in self._tokenizers:
            try:
                self._tokenizers[model] = self.plugins.models.get(model).load_tokenizer()
            except MemlocbenchError as exc:
                self._tokenizers[model] = exc
        got = self._tokenizers[model]
        if isinstance(got, Exception):
            raise got
        return got

    def _loaded_tokenizer(self, model: str):
        got = self._tokenizers.get(model)
        return None if got is None or isinstance(got, Exception) else got

    def _dataset(self, task: str, model: str, config: RunConfig):
        ident = (task, model, config.data.model_dump_json())
        if ident not in self._datasets:
            try:
                adapter = self.plugins.models.get(model)
                sep = adapter.separator(self._tokenizer(model))
                dataset = build_noisy_dataset(self.plugins.tasks.get(task), config.data, self.cfg.data_dir, sep)
            except MemlocbenchError as exc:
                self._datasets[ident] = self._problem(exc)
            else:
                # every key of every seed hashes the dataset (all its texts, several times per seed): once here,
                # for this planning-only copy, which nothing changes
                fingerprint = dataset.fingerprint()
                dataset.fingerprint = lambda: fingerprint
                self._datasets[ident] = dataset
        return self._datasets[ident]

    def _task_train(self, task: str, config: RunConfig, model: str | None = None):
        """The task's whole training split (before subsampling), or None where it cannot be read here."""
        tokenizer = self._loaded_tokenizer(model) if model is not None else None
        sep = self.plugins.models.get(model).separator(tokenizer) if tokenizer is not None else " "
        ident = (task, config.data.seed, sep)
        if ident not in self._task_rows:
            try:
                self._task_rows[ident] = self.plugins.tasks.get(task).load(self.cfg.data_dir, config.data.seed,
                                                                           sep).train
            except Exception:  # noqa: BLE001 - only for estimates: an unreadable task is a problem elsewhere
                self._task_rows[ident] = None
        return self._task_rows[ident]

    def _rows(self, task: str, config: RunConfig) -> int | None:
        """The training size where the dataset cannot be built with the model's tokenizer: the
        subsample size, at most the task's real size (a size too large for the task is an error of
        the plan, and the estimate counts the rows the task has); None where neither is known."""
        ident = (task, "rows", config.data.model_dump_json())
        if ident not in self._datasets:
            try:
                self._datasets[ident] = build_noisy_dataset(self.plugins.tasks.get(task), config.data,
                                                            self.cfg.data_dir, " ").train_size
            except MemlocbenchError:
                full = self._task_train(task, config)
                wanted = config.data.train_size
                self._datasets[ident] = (min(wanted, len(full)) if wanted else len(full)) if full is not None \
                    else wanted
        return self._datasets[ident]

    def _num_layers(self, model: str, num_labels: int) -> int | str:
        if model not in self._layers:
            adapter = self.plugins.models.get(model)
            try:
                built = adapter.load_model(num_labels)
                model_digest(adapter, num_labels, built=built)  # the units' keys need it: loaded once
                self._parameters[model] = sum(p.numel() for p in built.parameters())
                self._layers[model] = len(adapter.layer_modules(built))
            except MemlocbenchError as exc:
                self._layers[model] = self._problem(exc)
        return self._layers[model]

    def _aux_train_rows(self, config: RunConfig) -> int | None:
        c = config.control
        ident = (c.aux_task, config.data.seed)
        if ident not in self._aux_rows:
            try:
                self._aux_rows[ident] = len(self.plugins.tasks.get(c.aux_task).load(self.cfg.data_dir, config.data.seed, " ").train)
            except MemlocbenchError:
                self._aux_rows[ident] = None
        full = self._aux_rows[ident]
        if c.aux_train_size is not None:
            return min(c.aux_train_size, full) if full else c.aux_train_size
        return full

    # -- units ----------------------------------------------------------------------------------
    def _add(self, unit: Unit) -> str:
        """Keep ``unit`` unless it is planned already (same id, or same store key); returns the id kept."""
        if unit.id in self.units:
            return unit.id
        if unit.key is not None:
            kept = self._by_key.setdefault((unit.store_kind, unit.key), unit.id)
            if kept != unit.id:
                self.alias[unit.id] = kept
                return kept
        self.units[unit.id] = unit
        return unit.id

    def _base_payload(self, task: str, model: str, config: RunConfig) -> dict[str, Any]:
        return {"task": task, "model": model, "config": config.model_dump(mode="json"),
                "data_dir": str(self.cfg.data_dir) if self.cfg.data_dir else None,
                "store": str(self.store.root), "device": self.cfg.device, "threads": self.threads}

    def _train_unit(self, name: str, base: dict, models: TrainedModels | None, config: RunConfig,
                    rows: int | None, role: str, problem: str | None) -> str:
        recipe = recipe_for(role)
        train = models._train_config(recipe) if models else config.train
        if recipe.aux and not models and config.control.epochs:
            train = config.train.model_copy(update={"epochs": config.control.epochs})
        category = ("train-control" if recipe.aux else
                    "train-classifier-only" if recipe.main_layers == () else "train")
        work_rows = ((rows or 0) + ((self._aux_train_rows(config) or 0) if recipe.aux else 0)
                     + (models.decoy_count(recipe) if recipe.decoys and models else 0))
        uid = f"{name}: train {role}"
        payload = {**base, "id": uid, "kind": "train", "role": role,
                   "key": models.key(role) if models else None,
                   "cost": {"category": category, "rows": work_rows if rows else None,
                            "work": work_rows * train.epochs if rows else None,
                            "default_rates": training_rates(category, self._size(base["task"], base["model"],
                                                                                 config))}}
        # a routed twin trains as many epochs as its memorising model: after it
        deps = [self._train_unit(name, base, models, config, rows, recipe.follows, problem)] if recipe.follows else []
        return self._add(Unit(uid, "train", MODEL_KIND, payload["key"], deps, payload, problem))

    def _setting(self, task: str, model: str, config: RunConfig):
        """(run name, dataset, layer count, TrainedModels or None, problem or None) for one seed's config."""
        name = f"{task}/{model}/seed{config.train.seed}/{config.hash()[:8]}"
        dataset = self._dataset(task, model, config)
        problem = dataset if isinstance(dataset, str) else None
        layers = None
        if problem is None:
            layers = self._num_layers(model, dataset.num_labels)
            problem = layers if isinstance(layers, str) else None
        models = None
        if problem is None:
            models = TrainedModels(self.store, self.plugins.models.get(model), model, task,
                                   self.plugins.tasks.get(task).metadata.version, dataset, None, None, config,
                                   progress=False, providers=model_providers(self.plugins, task, model),
                                   device=self.device, threads=self.threads)
        return name, dataset, layers, models, problem

    def plan_run(self, block: SubGrid, task: str, model: str, config: RunConfig, methods) -> None:
        name, dataset, layers, models, problem = self._setting(task, model, config)
        if problem:
            self.problems.append(f"store keys unknown here: {problem}")
        rows = dataset.train_size if not isinstance(dataset, str) else self._rows(task, config)
        base = self._base_payload(task, model, config)

        def train_unit(role: str) -> str:
            return self._train_unit(name, base, models, config, rows, role, problem)

        n_layers = layers if isinstance(layers, int) else ASSUMED_LAYERS
        wanted = ([False] if block.standard else []) + ([True] if block.control else [])
        for control in wanted:
            if control and task == config.control.aux_task:
                self.problems.append(f"no control setup on {task!r}: it is the control setup's auxiliary task")
                continue
            group_units: list[str] = []
            track = block.control_track if control else "pair"
            for aliases, placement in model_setups(task, config, n_layers, control, track=track):
                setup_models = models.for_setup(aliases) if models else None
                roles = {r: aliases.get(r, r) for r in ("memorising", "clean")}
                trained = {r: train_unit(role) for r, role in roles.items()}
                group_units += trained.values()
                for method in methods:
                    deps = list(trained.values()) + [train_unit(aliases.get(r, r)) for r in method.info.extra_models]
                    where = f" @ {roles['memorising']}" if control else ""
                    uid = f"{name}: {method.info.name}{where}"
                    key = self.store.key(layer_scores_spec(method, config, setup_models,
                                                                       provider_of(self.plugins, "method", method.info.name))) if setup_models else None
                    params = {**plugin_defaults(method), **config.methods.get(method.info.name, {})}
                    payload = {**base, "id": uid, "kind": "method", "method": method.info.name,
                               "aliases": aliases, "key": key,
                               "cost": {"category": f"method:{method.info.name}", "rows": rows,
                                        "work": estimated_work(method, params, rows),
                                        "default_rates": self._rates(method, task, model, config)}}
                    group_units.append(self._add(Unit(uid, "method", SCORES_KIND, key, sorted(set(deps)), payload,
                                                      problem)))
            self.groups.append(Group({**base, "methods": [m.info.name for m in methods], "control": control,
                                      "control_track": track},
                                     list(dict.fromkeys(group_units))))

    def plan_analyses(self, task: str, model: str, base_config: RunConfig, seeds: list[int], analyses) -> None:
        """One unit per analysis over all ``seeds`` (as ``memlocbench analyse`` with the profile's seeds),
        after the trainings it reads for every seed: the memorising model and clean twin, or the clean twin
        alone for an analysis that does not read the memorising models (``reads_memorising=False``)."""
        config = base_config.with_seed(seeds[0]).model_copy(update={"seeds": seeds})
        settings = {s: self._setting(task, model, base_config.with_seed(s)) for s in seeds}
        name, dataset, _, _, problem = settings[seeds[0]]
        rows = dataset.train_size if not isinstance(dataset, str) else self._rows(task, config)
        base = self._base_payload(task, model, config)
        for analysis in analyses:
            deps = []
            if analysis.info.uses_models:
                roles = ("memorising", "clean") if analysis.info.reads_memorising else ("clean",)
                for s, (run_name, _, _, models, _) in settings.items():
                    run_base = self._base_payload(task, model, base_config.with_seed(s))
                    deps += [self._train_unit(run_name, run_base, models, base_config.with_seed(s), rows, role,
                                              problem) for role in roles]
            key = None
            if problem is None:
                task_meta = self.plugins.tasks.get(task).metadata
                spec = analysis_spec(analysis, task_meta, model, self.plugins.models.get(model).info.version,
                                     config, dataset, {s: st[3] for s, st in settings.items()}, self.plugins)
                key = self.store.key(spec)
            uid = f"{task}/{model}/seeds{','.join(map(str, seeds))}/{config.hash()[:8]}: analysis {analysis.info.name}"
            payload = {**base, "id": uid, "kind": "analysis", "analysis": analysis.info.name, "seeds": seeds,
                       "analysis_params": config.analyses, "key": key,
                       "cost": {**analysis_cost(analysis, config, rows), "default_rates": self._rates(analysis, task, model, config)}}
            self._add(Unit(uid, "analysis", ANALYSIS_KIND, key, sorted(set(deps)), payload, problem))
            self.groups.append(Group({**base, "analysis": analysis.info.name, "seeds": seeds,
                                      "analysis_params": config.analyses}, [uid]))

    def plan(self) -> Plan:
        for block in self.cfg.grids:
            tasks = _names(self.plugins.tasks, block.tasks)
            models = _names(self.plugins.models, block.models or [default_model(self.plugins)])
            methods = resolve_methods(self.plugins, ["all"] if block.methods == "all" else block.methods)
            analyses = [self.plugins.analyses.get(a) for a in block.analyses]
            base = block.run_config(self.plugins)
            # bad method or analysis parameters are plan errors, before any unit runs (as `memlocbench run`)
            for method in methods:
                try:
                    check_plugin_params(self.plugins, "method", method, base.methods.get(method.info.name, {}))
                except MemlocbenchError as exc:
                    self._problem(exc)
            for analysis in analyses:
                try:
                    check_analysis_params(self.plugins, analysis.info.name, base)
                except MemlocbenchError as exc:
                    self._problem(exc)
            for task in tasks:
                for model in models:
                    seeds = base.seeds if block.seeds is None else block.seeds  # never empty (SubGrid)
                    if block.standard or block.control:
                        for seed in seeds:
                            self.plan_run(block, task, model, base.with_seed(seed), methods)
                    if analyses:
                        self.plan_analyses(task, model, base, list(seeds), analyses)
        ordered = [u for u in self.units.values() if u.kind == "train"] + \
                  [u for u in self.units.values() if u.kind != "train"]
        counted: dict[str, int] = {}
        for p in self.problems:
            counted[p] = counted.get(p, 0) + 1
        return Plan(ordered, self.groups, [f"{p} ({n} run(s))" if n > 1 else p for p, n in counted.items()],
                    list(self.errors), dict(self._described))


def plugin_defaults(obj) -> dict[str, Any]:
    """A method's or analysis' parameter defaults (its optional ``defaults``; {} without them)."""
    defaults = getattr(obj, "defaults", None)
    return dict(defaults) if isinstance(defaults, dict) else {}


def estimated_work(obj, params: dict[str, Any], rows: int | None) -> float | None:
    """A unit's work: the plugin's ``estimate_work(params, rows)`` where it has one (and says), else
    ``rows``; None when the training size is unknown here."""
    if rows is None:
        return None
    estimate = getattr(obj, "estimate_work", None)
    try:
        work = estimate(params, rows) if callable(estimate) else None
    except Exception:  # noqa: BLE001 - an estimate must never fail the plan; rows stand in
        work = None
    usable = isinstance(work, (int, float)) and not isinstance(work, bool) and math.isfinite(work) and work >= 0
    return work if usable else rows


def analysis_cost(analysis, config: RunConfig, rows: int | None) -> dict[str, Any]:
    """An analysis unit's category, training size and work (``estimated_work`` with its parameters)."""
    name = analysis.info.name
    params = {**plugin_defaults(analysis), **config.analyses.get(name, {})}
    return {"category": f"analysis:{name}", "rows": rows, "work": estimated_work(analysis, params, rows)}


def build_plan(plugins: Plugins, cfg: GridConfig, store: ArtefactStore) -> Plan:
    return _Planner(plugins, cfg, store).plan()


def done_units(plan: Plan, store: ArtefactStore) -> set[str]:
    """Ids of the units whose artefact is already in the store."""
    return {u.id for u in plan.units if u.key is not None and store.has(u.store_kind, u.key)}
