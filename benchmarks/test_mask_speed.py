"""Slimming's fast path (batched, accumulated gradients: ``mask_learning.learn_mask``) against the
plain one-example-at-a-time reference of ``tests/references/masks.py`` (float32 here, as the fast
path), on MiniLM-L6 and the first $MLB_BENCH_MASK_N SST-2 rows (default 200; 15 % noisy, as many clean
examples), 3 Adam steps. Run alone: ``.venv/bin/pytest benchmarks/test_mask_speed.py -q -s``."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import pytest
import torch

from memlocbench.data.encoding import encode
from memlocbench.registry import load_plugins
from memlocbench_methods.mask_learning import COMMON_DEFAULTS, learn_mask
from memlocbench_methods.slimming import SlimMask
from test_method_speed import run_fast

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from references.masks import reference_mask  # noqa: E402

N = int(os.environ.get("MLB_BENCH_MASK_N", "200"))


def test_slimming_speed(benchmark):
    data = Path(os.environ.get("MEMLOCBENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (data / "sst2" / "train.jsonl").is_file():
        pytest.skip("no data mirror")
    rows = [json.loads(x) for x in (data / "sst2" / "train.jsonl").read_text().splitlines()[:N]]
    adapter = load_plugins().models.get("minilm-l6")
    enc = encode(adapter.load_tokenizer(), [r["sentence"] for r in rows], 128)
    torch.manual_seed(0)
    model = adapter.load_model(2).eval()
    noisy = sorted(random.Random(1).sample(range(N), int(0.15 * N)))
    clean = sorted(random.Random(2).sample([i for i in range(N) if i not in noisy], len(noisy)))
    labels = [1 - r["label"] if i in noisy else r["label"] for i, r in enumerate(rows)]
    p = {**COMMON_DEFAULTS, "steps": 3}
    fast, fast_seconds = run_fast(benchmark, lambda: learn_mask(adapter, model, enc, noisy, clean, labels,
                                                                SlimMask(6, 1536), p, 1).mask)
    t0 = time.perf_counter()
    slow = reference_mask(model, enc, noisy, clean, labels, "slimming", p, 1, dtype=torch.float32)
    ref_seconds = time.perf_counter() - t0
    benchmark.extra_info.update(reference_seconds=ref_seconds, speedup=ref_seconds / fast_seconds, n=N)
    print(f"\nslimming: fast {fast_seconds:.1f}s, plain reference {ref_seconds:.1f}s, "
          f"speed-up x{ref_seconds / fast_seconds:.1f}")
    torch.testing.assert_close(fast, slow, atol=1e-3, rtol=0)
