"""``check_executor``: an executor runs a tiny grid to the same outcomes and files as ``local``."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import GridReport, run_grid
from memlocbench.registry import Plugins, Provider, Registry, load_plugins

#: the name the executor under test is registered under for the check
UNDER_TEST = "executor-under-test"
#: fields of a result file that may differ between two runs of the same settings
VOLATILE = ("created_at", "timings", "cached", "environment")


def _with_executor(plugins: Plugins, executor) -> Plugins:
    executors = Registry("executor", {**plugins.executors.items, UNDER_TEST: executor},
                         {**plugins.executors.providers, UNDER_TEST: Provider("under-test", "0")})
    return dataclasses.replace(plugins, executors=executors)


def _stable(data: dict[str, Any]) -> dict[str, Any]:
    """A result file's content without what legitimately differs between runs (times, environment)."""
    for key in VOLATILE:
        data.pop(key, None)
    for stats in data.get("memorisation", {}).values():
        stats.pop("train_seconds", None)
        stats.pop("trained_in_this_run", None)
        for epoch in stats.get("epochs", []):
            epoch.pop("seconds", None)
    return data


def _files(out: Path) -> dict[str, dict[str, Any]]:
    return {p.name: _stable(json.loads(p.read_text())) for p in sorted(out.glob("*.json"))}


def _entries(store: Path) -> dict[str, set[str]]:
    """Store kind -> the keys of its committed entries."""
    return {kind.name: {e.name for e in kind.iterdir() if not e.name.startswith(".")}
            for kind in sorted(store.iterdir()) if kind.is_dir() and kind.name != "timings"}


def _run(plugins: Plugins, executor: str, root: Path, grid: dict[str, Any]) -> GridReport:
    if executor == "local":  # the reference: one unit at a time, in this process
        grid = {**grid, "executor_options": {"workers": 1}}
    cfg = load_grid_config(None, {**grid, "cache_dir": root / "store", "out": root / "out", "executor": executor})
    return run_grid(plugins, cfg, log=lambda msg: None, progress=False)


def _compare(ref: GridReport, got: GridReport, ref_root: Path, got_root: Path) -> None:
    statuses = {uid: o["status"] for uid, o in ref.outcomes.items()}
    failed = {uid: o.get("reason") for uid, o in ref.outcomes.items() if o["status"] != "done"}
    assert not failed, f"the reference run of the local executor did not complete its units: {failed}"
    theirs = {uid: o.get("status") for uid, o in got.outcomes.items()}
    differ = {uid: (statuses.get(uid), theirs.get(uid)) for uid in statuses.keys() | theirs.keys()
              if statuses.get(uid) != theirs.get(uid)}
    assert not differ, f"unit outcomes differ from the local executor's (local, under test): {differ}"
    assert sorted(p.name for p in got.written) == sorted(p.name for p in ref.written), (
        f"result files written: {sorted(p.name for p in got.written)}; local wrote {sorted(p.name for p in ref.written)}"
        f" (not written: {got.not_written})")
    assert _entries(got_root / "store") == _entries(ref_root / "store"), "the store holds other entries than local's"
    ours, theirs_files = _files(ref_root / "out"), _files(got_root / "out")
    bad = [name for name in ours if ours[name] != theirs_files.get(name)]
    assert not bad, f"result files differ from the local executor's: {bad}"


def check_executor(executor, workdir: str | Path, *, tasks: list[str], methods: list[str],
                   data_dir: str | Path | None = None, **grid: Any) -> GridReport:
    """Check a grid executor: a tiny grid (``tasks`` x ``methods``, seed 1, 32 training rows, length 16,
    1 epoch; any other ``memlocbench grid`` key in ``grid`` overrides these) run by ``executor`` on a
    fresh store gives the same unit outcomes, the same store entries and the same result files (but for
    times and environment) as the ``local`` executor on another fresh store. Units run in whatever
    process the executor chooses, with the installed plugins (``load_plugins()``), so the grid may only
    name installed tasks, models and methods. Each unit asks for as many CPUs as this process has torch
    threads (``cpus_per_unit``), so that a unit computes with the same thread count (and float sums) in
    any process; a Ray instance started beforehand must offer that many. Returns the executor's report;
    raises AssertionError naming what differs."""
    settings = {"tasks": list(tasks), "methods": list(methods), "seeds": [1], "train_size": 32, "max_length": 16,
                "epochs": 1, "data_dir": data_dir, "cpus_per_unit": torch.get_num_threads(),
                "threads": torch.get_num_threads(), **grid}
    plugins = _with_executor(load_plugins(), executor)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="check-executor-", dir=workdir))
    ref = _run(plugins, "local", root / "local", settings)
    got = _run(plugins, UNDER_TEST, root / "under-test", settings)
    _compare(ref, got, root / "local", root / "under-test")
    return got
