"""The local executor's worker processes (issue 33, item 4): units start only after the units they depend
on, a unit whose dependency failed never runs, two independent units run at once, a worker that dies
fails only what it held, and a grid run by two workers writes the same result files as one unit at a
time at the same thread count."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import run_grid
from memlocbench.grid.executors import LocalExecutor, default_local_workers


def fake_unit(payload: dict) -> dict:
    """A unit for the pool (module level: spawned workers import it): logs its start and end."""
    log = Path(payload["log"])
    with open(log, "a") as f:
        f.write(json.dumps({"id": payload["id"], "event": "start", "t": time.time(), "pid": os.getpid()}) + "\n")
    time.sleep(payload.get("sleep", 0.0))
    if payload.get("die"):
        os._exit(17)
    if payload.get("fail"):
        raise RuntimeError(f"unit {payload['id']} fails on purpose")
    with open(log, "a") as f:
        f.write(json.dumps({"id": payload["id"], "event": "end", "t": time.time()}) + "\n")
    return {"id": payload["id"], "status": "done", "seconds": 0.0, "pid": os.getpid()}


class _Bar:
    def update(self, n): ...
    def set_postfix_str(self, s): ...


def _units(log: Path, spec: dict[str, dict]) -> list[dict]:
    return [{"id": uid, "deps": s.get("deps", []), "payload": {"id": uid, "log": str(log), **s}}
            for uid, s in spec.items()]


def _events(log: Path) -> dict[tuple[str, str], dict]:
    return {(e["id"], e["event"]): e for e in map(json.loads, log.read_text().splitlines())}


def test_workers_respect_dependencies_and_run_independent_units_at_once(tmp_path):
    log = tmp_path / "log"
    units = _units(log, {"a": {"sleep": 1.5}, "b": {"sleep": 1.5}, "c": {"deps": ["a", "b"]},
                         "bad": {"fail": True}, "after-bad": {"deps": ["bad"]}, "d": {"deps": ["c"]}})
    reports = []
    LocalExecutor._in_workers(units, 2, {}, reports.append, _Bar(), fn=fake_unit)
    status = {r["id"]: r for r in reports}
    assert {k: v["status"] for k, v in status.items()} == {"a": "done", "b": "done", "c": "done", "d": "done",
                                                           "bad": "failed", "after-bad": "failed"}
    assert "fails on purpose" in status["bad"]["reason"]
    assert status["after-bad"]["reason"] == "dependency failed: bad"
    ev = _events(log)
    assert ("after-bad", "start") not in ev  # never ran
    assert ev[("c", "start")]["t"] >= max(ev[("a", "end")]["t"], ev[("b", "end")]["t"])
    assert ev[("d", "start")]["t"] >= ev[("c", "end")]["t"]
    # a and b overlapped, in two processes
    assert ev[("b", "start")]["t"] < ev[("a", "end")]["t"] and ev[("a", "start")]["t"] < ev[("b", "end")]["t"]
    assert ev[("a", "start")]["pid"] != ev[("b", "start")]["pid"]


def test_a_dying_worker_fails_its_unit_and_the_grid_goes_on(tmp_path):
    log = tmp_path / "log"
    # one worker, so that no other unit is in the pool when the worker dies (a death breaks the whole pool:
    # every unit running in it then fails, and a rerun of the grid retries them)
    units = _units(log, {"dies": {"die": True}, "later": {"deps": ["dies"]}, "other": {"sleep": 0.2},
                         "last": {"deps": ["other"]}})
    reports = []
    LocalExecutor._in_workers(units, 1, {}, reports.append, _Bar(), fn=fake_unit)
    status = {r["id"]: r for r in reports}
    assert set(status) == {"dies", "later", "other", "last"}
    assert status["dies"]["status"] == "failed" and "worker process died" in status["dies"]["reason"]
    assert status["later"]["status"] == "failed"
    assert status["other"]["status"] == status["last"]["status"] == "done"  # on a fresh pool after the death


def test_the_default_is_two_workers_with_the_torch_threads_divided(tmp_path):
    import torch

    assert default_local_workers() == (2 if (os.cpu_count() or 1) >= 2 else 1)
    cfg = load_grid_config(None, {"tasks": ["sst2"], "cache_dir": tmp_path})
    assert cfg.unit_threads() == max(1, torch.get_num_threads() // default_local_workers())
    one = load_grid_config(None, {"tasks": ["sst2"], "cache_dir": tmp_path, "executor_options": {"workers": 1}})
    assert one.unit_threads() == torch.get_num_threads()


@pytest.mark.slow
def test_two_workers_write_the_files_one_at_a_time_writes(plugins, mirror, tmp_path):
    from test_grid import _results

    tiny = {"tasks": ["sst2"], "methods": ["layer-swapping"], "seeds": [1, 2], "train_size": 32,
            "max_length": 16, "epochs": 1, "threads": 1, "data_dir": mirror}
    reports = {}
    for workers in (1, 2):
        cfg = load_grid_config(None, {**tiny, "cache_dir": tmp_path / f"store{workers}", "out": tmp_path / f"out{workers}",
                                      "executor_options": {"workers": workers}})
        reports[workers] = run_grid(plugins, cfg, log=lambda m: None, progress=False)
        assert reports[workers].count("failed") == 0, reports[workers].outcomes
    assert {o["pid"] for o in reports[2].outcomes.values() if "pid" in o} - {os.getpid()}  # ran in workers
    one, two = _results(tmp_path / "out1"), _results(tmp_path / "out2")
    assert one and one == two


def test_a_workers_failure_reason_holds_no_remote_traceback(tmp_path):
    log = tmp_path / "log"
    reports = []
    LocalExecutor._in_workers(_units(log, {"bad": {"fail": True}, "other": {}}), 2, {}, reports.append, _Bar(),
                              fn=fake_unit)
    reason = next(r["reason"] for r in reports if r["id"] == "bad")
    assert reason == "RuntimeError: unit bad fails on purpose", reason
