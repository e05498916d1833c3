"""Grid throughput on a 2-core machine (issue 33, item 4): the same two training units (SST-2, MiniLM-L6,
model seeds 1 and 2; 96 rows, max length 32, 2 epochs) run one after another with 2 torch threads, against
both at once in two processes with 1 thread each, each arm on a fresh store, in one run. Reported as the
ratio of the wall times (> 1: two single-threaded units at once are faster). Run with
``.venv/bin/pytest benchmarks/test_grid_threads.py -s`` on an otherwise idle machine."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SCRIPT = """
import sys, torch
from pathlib import Path
from memlocbench.registry import load_plugins
from memlocbench.run.method_run import RunRequest, prepare
from memlocbench.run.settings import profile_config
from memlocbench.store import ArtefactStore
threads, size, store, mirror = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
seeds = [int(s) for s in sys.argv[5:]]
torch.set_num_threads(threads)
plugins = load_plugins()
for seed in seeds:
    if size == "real":  # the cpu grid's unit: 300 examples, train-until-fit, the model and its clean twin
        cfg = profile_config("cpu", plugins=plugins, data={"train_size": 300}).with_seed(seed)
        roles = ["memorising", "clean"]
    else:
        cfg = profile_config("cpu", plugins=plugins, data={"train_size": 96, "max_length": 32},
                             train={"epochs": 2}).with_seed(seed)
        roles = ["memorising"]
    req = RunRequest(task="sst2", model="minilm-l6", methods=[], config=cfg, data_dir=Path(mirror),
                     out_dir=Path(store) / "out", store=ArtefactStore(store), progress=False)
    models = prepare(plugins, req).models
    for role in roles:
        models.ensure(role)
"""


def _mirror() -> str:
    env = os.environ.get("MEMLOCBENCH_DATA_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (path / "sst2" / "train.jsonl").is_file():
        pytest.skip("no data mirror")
    return str(path)


def _run(procs: list[list[str]]) -> float:
    t0 = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", SCRIPT, *args]) for args in procs]
    assert all(p.wait(timeout=3600) == 0 for p in running)
    return time.perf_counter() - t0


@pytest.mark.parametrize("size", ["small", "real"])
def test_two_single_threaded_units_at_once_against_one_two_threaded_unit_at_a_time(benchmark, size):
    """``small``: 96 rows, 2 epochs, the memorising model only; ``real``: the cpu grid's unit (300 examples,
    train-until-fit, the memorising model and its clean twin)."""
    mirror = _mirror()

    def both():
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, \
                tempfile.TemporaryDirectory() as c:
            sequential = _run([["2", size, a, mirror, "1", "2"]])
            parallel = _run([["1", size, b, mirror, "1"], ["1", size, c, mirror, "2"]])
        return sequential, parallel

    sequential, parallel = benchmark.pedantic(both, rounds=1, iterations=1)
    benchmark.extra_info.update({"one_at_a_time_2_threads_s": round(sequential, 1),
                                 "two_at_once_1_thread_s": round(parallel, 1),
                                 "ratio_sequential_over_parallel": round(sequential / parallel, 3)})
    print(f"\n{size}: one at a time, 2 threads: {sequential:.1f} s; two at once, 1 thread each: {parallel:.1f} s; "
          f"ratio {sequential / parallel:.2f}")
