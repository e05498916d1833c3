"""The grid end to end: plan, skip what the store has, execute the rest, write the result files.

Result files are written, once all units of a run are in the store, by ``method_run.run`` (or
``analysis_run.analyse``) itself (everything it needs comes from the store, so it trains and computes
nothing): the same files and numbers ``memlocbench run`` writes for the same settings.

What an executor reports is checked against the store: a unit reported done whose artefact is not in
the driver's store (a worker that wrote elsewhere) and a unit never reported count as failed, and a run
whose result files could not be written is listed in ``GridReport.not_written``; the CLI exits 1
unless every planned run wrote its files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from memlocbench.errors import InvalidInputError
from memlocbench.run.device import resolve_device
from memlocbench.grid.config import GridConfig, checked
from memlocbench.grid.estimate import Estimate, estimate
from memlocbench.grid.executors import executor_options, failure_reason
from memlocbench.grid.plan import Plan, build_plan, done_units
from memlocbench.run.analysis_run import analyse
from memlocbench.grid.units import analysis_request, request_for
from memlocbench.run.method_run import run as run_pipeline
from memlocbench.registry import Plugins
from memlocbench.store import ArtefactStore, default_cache_dir
from memlocbench.training.trained_models import torch_threads


@dataclass
class DryRun:
    plan: Plan
    done: set[str]
    estimate: Estimate
    per_category: dict[str, float]
    counts: dict[str, dict[str, int]]  # category -> {"units", "done", "pending"}
    device: str


@dataclass
class GridReport:
    plan: Plan
    outcomes: dict[str, dict[str, Any]]  # unit id -> {"status", "seconds", "reason"?}
    written: list[Path] = field(default_factory=list)
    not_written: list[str] = field(default_factory=list)  # runs whose result files were not written, and why

    @property
    def runs(self) -> int:
        """The runs planned (each writes its result files once all its units are in the store)."""
        return len(self.plan.groups)

    def count(self, status: str) -> int:
        return sum(o["status"] == status for o in self.outcomes.values())

    @property
    def executed(self) -> int:
        return self.count("done")


def _device_for_estimate(cfg: GridConfig) -> str:
    return resolve_device(cfg.device) if cfg.device == "auto" else cfg.device


def _store(cfg: GridConfig) -> ArtefactStore:
    """The grid's store, at an absolute path: workers in other folders must find the same one."""
    return ArtefactStore(os.path.abspath(Path(cfg.cache_dir or default_cache_dir()).expanduser()))


def _executor(plugins: Plugins, cfg: GridConfig) -> tuple[Any, dict[str, Any]]:
    """The grid's executor and its checked options (unknown executors and options fail here)."""
    executor = plugins.executors.get(cfg.executor)
    return executor, executor_options(executor, cfg.given_executor_options())


def dry_run(plugins: Plugins, cfg: GridConfig) -> DryRun:
    """The plan, what the store has of it and the estimated compute of the rest; runs nothing."""
    cfg = checked(cfg)
    _executor(plugins, cfg)  # a bad executor or option fails as it would in the run
    store = _store(cfg)
    plan = build_plan(plugins, cfg, store)
    done = done_units(plan, store)
    pending = [u for u in plan.units if u.id not in done]
    device = _device_for_estimate(cfg)
    est, per_category = estimate(pending, store.root, device)
    counts: dict[str, dict[str, int]] = {}
    for u in plan.units:
        c = counts.setdefault(u.cost["category"], {"units": 0, "done": 0, "pending": 0})
        c["units"] += 1
        c["done" if u.id in done else "pending"] += 1
    return DryRun(plan, done, est, per_category, counts, device)


def run_grid(plugins: Plugins, cfg: GridConfig, log: Callable[[str], None] = print,
             progress: bool = True) -> GridReport:
    """Run the grid: plan it, skip the units the store has, execute the rest and write the result
    file of every run whose units are all in the store."""
    cfg = checked(cfg)
    executor, options = _executor(plugins, cfg)
    if cfg.executor == "local":
        resolve_device(cfg.device)  # --device cuda without CUDA: a clean error before any work
    store = _store(cfg)
    plan = build_plan(plugins, cfg, store)
    if plan.errors:  # every unit of such a run would fail the same way: refuse before any work
        raise InvalidInputError("the grid's settings do not fit its tasks or models (`--dry-run` shows the plan):\n"
                                + "\n".join(f"  {e}" for e in plan.errors))
    done = done_units(plan, store)
    outcomes: dict[str, dict[str, Any]] = {uid: {"status": "skipped", "seconds": 0.0} for uid in done}
    gpu = 1 if cfg.device == "cuda" else 0
    work = [{"id": u.id, "deps": [d for d in u.deps if d not in done], "payload": u.payload,
             "resources": {"num_cpus": cfg.cpus_per_unit, "num_gpus": gpu}}
            for u in plan.units if u.id not in done]
    log(f"grid: {len(plan.units)} units, {len(done)} already in the store, {len(work)} to run "
        f"(executor {executor.name})")

    def report(out: dict[str, Any]) -> None:
        outcomes[out["id"]] = {k: v for k, v in out.items() if k != "id"}
        for warning in out.get("warnings", []):
            log(f"warning: {out['id']}: {warning}")

    if work:
        executor.execute(work, {**options, "progress": progress, "log": log}, report)
    by_id = plan.by_id()
    _check_outcomes(work, outcomes, by_id, store)
    result = GridReport(plan, outcomes)
    for group in plan.groups:
        try:
            _write_group(plugins, cfg, store, result, group, by_id)
        except Exception as exc:  # noqa: BLE001 - one run's files failing does not lose the others'
            result.not_written.append(f"{_group_label(group.payload)}: {failure_reason(exc)}")
    return result


def _check_outcomes(work: list[dict], outcomes: dict[str, dict], by_id: dict, store: ArtefactStore) -> None:
    """What the executor said against the store: a unit reported done (or skipped) whose artefact is not
    in this store, or never reported at all, has failed."""
    for w in work:
        uid = w["id"]
        out = outcomes.get(uid)
        if out is None:
            outcomes[uid] = {"status": "failed", "seconds": 0.0, "reason": "the executor did not report this unit"}
            continue
        unit = by_id[uid]
        if out.get("status") in ("done", "skipped") and unit.key is not None \
                and not store.has(unit.store_kind, unit.key):
            outcomes[uid] = {**out, "status": "failed",
                             "reason": f"reported {out.get('status')}, but its artefact is not in the store at "
                                       f"{store.root}: the worker wrote elsewhere (is this path the same folder "
                                       f"for every worker?)"}


def _group_label(p: dict[str, Any]) -> str:
    """A run of the plan in words, e.g. ``sst2/minilm-l6/seed1 (control, pair track)``."""
    if "analysis" in p:
        return f"{p['task']}/{p['model']}/seeds {','.join(map(str, p['seeds']))}: analysis {p['analysis']}"
    return (f"{p['task']}/{p['model']}/seed{p['config']['train']['seed']}" +
            (f" (control, {p.get('control_track', 'pair')} track)" if p["control"] else ""))


def _write_group(plugins: Plugins, cfg: GridConfig, store: ArtefactStore, result: GridReport, group,
                 by_id: dict) -> None:
    """Write the result files of one run of the plan, if all its units are in the store (everything
    comes from the store: nothing is trained or computed); else note in ``result`` why not."""
    p = group.payload
    failed = [uid for uid in group.unit_ids if result.outcomes.get(uid, {}).get("status") == "failed"]
    if failed:
        result.not_written.append(f"{_group_label(p)}: {len(failed)} unit(s) failed")
        return
    missing = [uid for uid in group.unit_ids
               if by_id[uid].key is None or not store.has(by_id[uid].store_kind, by_id[uid].key)]
    if missing and any(by_id[uid].key is not None for uid in missing):
        result.not_written.append(f"{_group_label(p)}: {len(missing)} unit(s) not in the store")
        return
    # at the thread count the plan keyed the units with (part of every key): else the models and scores
    # of units run in workers with fewer threads than this process would not be found, and trained anew
    with torch_threads(p.get("threads")):
        if "analysis" in p:  # the result file only
            areq = analysis_request({**p, "store": str(store.root)}, store)
            areq.out_dir = cfg.out
            result.written.append(analyse(plugins, areq, log=lambda msg: None)[1])
            return
        req = request_for({**p, "store": str(store.root)}, store)
        req.out_dir = cfg.out
        output = run_pipeline(plugins, req, log=lambda msg: None)
        result.written += output.paths + ([output.summary_path] if output.summary_path else [])
