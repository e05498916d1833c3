"""Fault injection (issue 11): a real `memlocbench run` is SIGKILLed at random points, N times, on
one store. After every kill the store is consistent (each entry verifies against its digests, no
half entries, nothing quarantined); a final rerun completes, leaves no temporary folders and gives
the same layer profile and M-CoG as an uninterrupted run on a fresh store. And a deterministic kill at
the worst moment, between writing an entry and committing it (the test-only hook of
``store_faults.py``; shipped code has no crash switch), after which a rerun of the grid resumes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memlocbench.store import ArtefactStore

pytestmark = pytest.mark.slow

N_KILLS = 4
SEED = 20241


def _mini_mirror(mirror, root):
    """64 training and 32 validation rows of SST-2, so that one run takes seconds, not minutes."""
    (root / "sst2").mkdir(parents=True)
    for split, n in (("train", 64), ("validation", 32)):
        lines = (mirror / "sst2" / f"{split}.jsonl").read_text().splitlines()[:n]
        (root / "sst2" / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _cmd(data, store, out):
    return [sys.executable, "-m", "memlocbench.cli", "run", "--method", "layer-swapping", "--task", "sst2",
            "--train-size", "32", "--epochs", "1", "--max-length", "16", "--data-dir", str(data),
            "--cache-dir", str(store), "--out", str(out), "--quiet"]


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("MEMLOCBENCH_CACHE_DIR", "MEMLOCBENCH_LOAD_PLUGINS")}
    return {**env, "PYTHONWARNINGS": "ignore"}


def _result(out):
    files = [p for p in out.glob("*.json") if not p.name.endswith(".summary.json")]
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def _assert_consistent(root):
    """Every committed entry verifies; only temporary folders may be incomplete; nothing was quarantined."""
    store = ArtefactStore(root)
    for kind in ("models", "layer-scores"):
        folder = root / kind
        for entry in (folder.iterdir() if folder.is_dir() else []):
            if not entry.name.startswith(".tmp-"):
                store.verify(kind, entry.name)  # raises CorruptEntryError on a half or damaged entry
    assert not (root / "quarantine").exists()


def test_sigkill_at_random_points_keeps_the_store_consistent(mirror, tmp_path):
    data = _mini_mirror(mirror, tmp_path / "data")
    t0 = time.monotonic()
    ref = subprocess.run(_cmd(data, tmp_path / "ref-store", tmp_path / "ref-out"), capture_output=True,
                         text=True, env=_env(), timeout=600)
    duration = time.monotonic() - t0
    assert ref.returncode == 0, ref.stderr

    store, rng, kills = tmp_path / "store", random.Random(SEED), 0
    for i in range(N_KILLS):
        proc = subprocess.Popen(_cmd(data, store, tmp_path / f"out-{i}"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=_env())
        try:
            proc.wait(timeout=rng.uniform(0.1, 0.55) * duration)  # it may finish first once much is cached
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        _assert_consistent(store)
    print(f"fault injection: {kills} of {N_KILLS} runs killed; uninterrupted run {duration:.0f} s")
    assert kills >= 1

    final = subprocess.run(_cmd(data, store, tmp_path / "final-out"), capture_output=True, text=True,
                           env=_env(), timeout=600)
    assert final.returncode == 0, final.stderr
    _assert_consistent(store)
    assert not [p for kind in ("models", "layer-scores") for p in (store / kind).glob(".tmp-*")]
    got, want = _result(tmp_path / "final-out"), _result(tmp_path / "ref-out")
    assert got["raw_weights"] == pytest.approx(want["raw_weights"], abs=1e-9)
    assert got["mcog"] == pytest.approx(want["mcog"], abs=1e-9)
    assert got["config_hash"] == want["config_hash"]


def _grid(data, store, out):
    """`memlocbench grid` (local executor) under the test-only crash hook of store_faults.py."""
    return [sys.executable, str(Path(__file__).resolve().parents[1] / "store_faults.py"), "grid", "--tasks", "sst2",
            "--methods", "layer-swapping", "--seeds", "1", "--train-size", "32", "--max-length", "16", "--epochs",
            "1", "--data-dir", str(data), "--cache-dir", str(store), "--out", str(out), "--quiet",
            "--executor-option", "workers=1"]  # units in the grid's own process, where the hook is armed


def test_grid_killed_between_writing_and_committing_resumes(mirror, tmp_path):
    """The grid's process dies after writing the layer scores' entry but before committing it: the
    store holds the two trained models and no half entry; a rerun trains nothing (a second crash hook,
    armed on any model commit, stays silent), commits the scores, sweeps the dead writer's folder and
    writes the same result as an uninterrupted grid."""
    from store_faults import CRASH_EXIT_CODE, crash_once_env

    data, store = _mini_mirror(mirror, tmp_path / "data"), tmp_path / "store"
    for name in ("scores", "models"):
        (tmp_path / name).mkdir()  # arms both hooks
    crash = {**_env(), **crash_once_env("layer-scores/", tmp_path / "scores" / "crashed")}
    dead = subprocess.run(_grid(data, store, tmp_path / "out-0"), capture_output=True, text=True, env=crash,
                          timeout=600)
    assert dead.returncode == CRASH_EXIT_CODE, dead.stderr
    assert (tmp_path / "scores" / "crashed").read_text().startswith("crashed once before committing layer-scores/")
    _assert_consistent(store)
    assert len([p for p in (store / "models").iterdir() if not p.name.startswith(".")]) == 2
    assert [p.name[:5] for p in (store / "layer-scores").iterdir()] == [".tmp-"]  # written, never committed

    no_training = {**_env(), **crash_once_env("models/", tmp_path / "models" / "trained")}
    rerun = subprocess.run(_grid(data, store, tmp_path / "out-1"), capture_output=True, text=True, env=no_training,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert not (tmp_path / "models" / "trained").exists()  # no model was trained (committed) again
    _assert_consistent(store)
    assert len(list((store / "layer-scores").iterdir())) == 1  # the entry; the dead writer's folder swept
    fresh = subprocess.run(_grid(data, tmp_path / "fresh-store", tmp_path / "fresh-out"), capture_output=True,
                           text=True, env=_env(), timeout=600)
    assert fresh.returncode == 0, fresh.stderr
    got, want = _result(tmp_path / "out-1"), _result(tmp_path / "fresh-out")
    assert got["raw_weights"] == pytest.approx(want["raw_weights"], abs=1e-9)
    assert got["mcog"] == pytest.approx(want["mcog"], abs=1e-9) and got["config_hash"] == want["config_hash"]
