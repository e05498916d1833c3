"""Ray's overhead over the local executor: the same tiny grid (SST-2 and MRPC x layer swapping and
gradient attribution x seed 1: 6 trainings + 4 method units; 32 rows, max length 16, 1 epoch), each
on a fresh store, in one run. Run with ``.venv/bin/pytest benchmarks/test_grid_overhead.py -s``.

The local executor runs the units one after another in this process (torch's default threads, 2
here). Ray runs each unit as a task asking for 2 CPUs on a local instance of 2 CPUs, so it too runs one
unit at a time with 2 threads per worker: the ratio of Ray's wall time to the local one is its
overhead (scheduling, worker processes, each worker's imports and data loading), not a parallel
speed-up; reported with start-up (``ray.init``) and without it. Both produce identical profiles
(asserted)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import run_grid
from memlocbench.registry import load_plugins

GRID = {"tasks": ["sst2", "mrpc"], "methods": ["layer-swapping", "gradient-attribution"], "seeds": [1],
        "train_size": 32, "max_length": 16, "epochs": 1}


def _mirror() -> Path:
    env = os.environ.get("MEMLOCBENCH_DATA_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (path / "sst2" / "train.jsonl").is_file():
        pytest.skip("no data mirror")
    return path


def _profiles(out: Path) -> dict:
    return {p.name: json.loads(p.read_text()).get("profile") for p in sorted(out.glob("*.json"))}


def test_ray_overhead_over_local(benchmark, tmp_path):
    ray = pytest.importorskip("ray")
    plugins = load_plugins()
    mirror = _mirror()

    def grid(name: str, executor: str):
        cfg = load_grid_config(None, {**GRID, "data_dir": mirror, "cache_dir": tmp_path / name / "store",
                                      "out": tmp_path / name / "out", "executor": executor,
                                      "cpus_per_unit": 2})
        report = run_grid(plugins, cfg, log=lambda m: None, progress=False)
        assert report.executed == 10 and report.count("failed") == 0, report.outcomes
        return cfg.out

    out_local = benchmark.pedantic(lambda: grid("local", "local"), rounds=1, iterations=1)
    local = benchmark.stats.stats.mean
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    startup = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        out_ray = grid("ray", "ray")
        ray_seconds = time.perf_counter() - t0
    finally:
        ray.shutdown()
    assert _profiles(out_ray) == _profiles(out_local)
    benchmark.extra_info.update(local_seconds=local, ray_seconds=ray_seconds, ray_startup_seconds=startup,
                                ratio=(ray_seconds + startup) / local, ratio_without_startup=ray_seconds / local)
    print(f"\ngrid of 10 units: local {local:.1f} s; ray {ray_seconds:.1f} s + {startup:.1f} s start-up; "
          f"ratio {(ray_seconds + startup) / local:.2f} ({ray_seconds / local:.2f} without start-up)")
