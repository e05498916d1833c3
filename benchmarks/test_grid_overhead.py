"""Ray's overhead over the local executor: the same tiny grid (SST-2 and MRPC x layer swapping and
gradient attribution x seed 1: 6 trainings + 4 method units; 32 rows, max length 16, 1 epoch), each
on a fresh store, in one run. Run with ``.venv/bin/pytest benchmarks/test_grid_overhead.py -s``.

The local executor runs the units one after another in this process (torch's default threads);
Ray runs each unit as a task asking for 1 CPU on a local instance of 2 CPUs, so two units can run at
once, each in a worker with one thread. The ratio is Ray's wall time over the local one: with start-up
(``ray.init``) and without it. Both produce the same result files (asserted; to 1e-6 relative,
since one torch thread instead of two changes the last bits of float sums in gradient attribution)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import run_grid
from memlocbench.plugins import load_plugins

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
                                      "out": tmp_path / name / "out", "executor": executor})
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
    local_profiles, ray_profiles = _profiles(out_local), _profiles(out_ray)
    assert ray_profiles.keys() == local_profiles.keys()
    for name, profile in local_profiles.items():
        assert ray_profiles[name] == (None if profile is None else pytest.approx(profile, rel=1e-6)), name
    benchmark.extra_info.update(local_seconds=local, ray_seconds=ray_seconds, ray_startup_seconds=startup,
                                ratio=(ray_seconds + startup) / local, ratio_without_startup=ray_seconds / local)
    print(f"\ngrid of 10 units: local {local:.1f} s; ray {ray_seconds:.1f} s + {startup:.1f} s start-up; "
          f"ratio {(ray_seconds + startup) / local:.2f} ({ray_seconds / local:.2f} without start-up)")
