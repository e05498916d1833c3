"""Each method against a plain implementation written the paper's way, on the same workload in the
same run. Run with ``.venv/bin/pytest benchmarks --benchmark-columns=mean,rounds``; the speed-up of
each fast implementation over its reference is in the benchmark's ``extra_info`` and printed.

Workload: MiniLM-L6 and the first N SST-2 training rows (N = $MLB_BENCH_N, default 600: the
issue's workload), a "memorising" and a "clean" model that differ in every non-embedding weight (the
methods' cost does not depend on how the weights were trained), 15% of the rows marked noisy. Layer
retraining uses the first $MLB_BENCH_RETRAIN_N rows (default 120) and 1 epoch per window, so that its
paper-style reference finishes in minutes; its cost is linear in both. Layer retraining and the
training loop are also timed with the ``cpu-fast`` profile's compute settings (bf16 autocast,
length-grouped batches), which change results slightly, so they are compared, not equated.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sys
import time
from pathlib import Path

import pytest
import torch

from memlocbench.data.encoding import encode
from memlocbench.scoring.layer_weights import layer_weights_from_windows, mcog, normalise
from memlocbench.registry import load_plugins
from memlocbench.run.settings import profile_config
from memlocbench.training.trainer import train_classifier
from memlocbench_methods import gradient_attribution as ga
from memlocbench_methods import layer_retraining as lr
from memlocbench_methods import layer_swapping as ls
from memlocbench_methods import probing as pr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from references.gradient_attribution import group_gradient_per_example  # noqa: E402
from references.layer_swapping import swap_by_copy  # noqa: E402

N = int(os.environ.get("MLB_BENCH_N", "600"))
N_RETRAIN = int(os.environ.get("MLB_BENCH_RETRAIN_N", "120"))


def mirror_dir() -> Path:
    env = os.environ.get("MEMLOCBENCH_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _rows(n: int) -> list[dict]:
    data = mirror_dir() / "sst2" / "train.jsonl"
    if not data.is_file():
        pytest.skip("no data mirror")
    return [json.loads(x) for x in data.read_text().splitlines()[:n]]


@pytest.fixture(scope="module")
def models():
    adapter = load_plugins().models.get("minilm-l6")
    tok = adapter.load_tokenizer()
    torch.manual_seed(0)
    pretrained = adapter.load_model(2).eval()
    pair = []
    for seed in (1, 2):
        m = adapter.load_model(2).eval()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for n, p in m.named_parameters():
                if adapter.parameter_group(n) != "embeddings":
                    p.add_(0.02 * torch.randn(p.shape, generator=g))
        pair.append(m)
    # warm-up (thread pool, allocator) outside every timed call, so neither side pays it
    batch = encode(tok, ["a warm-up sentence"] * 16, 16).batch(list(range(16)))
    pair[0](**batch).logits.sum().backward()
    pair[0].zero_grad(set_to_none=True)
    return adapter, tok, pretrained, pair[0], pair[1]


def _work(models, n: int):
    adapter, tok, pretrained, mem, clean = models
    rows = _rows(n)
    enc = encode(tok, [r["sentence"] for r in rows], 128)
    noisy = sorted(random.Random(1).sample(range(n), int(0.15 * n)))
    labels = [1 - r["label"] if i in noisy else r["label"] for i, r in enumerate(rows)]
    return adapter, enc, labels, noisy, pretrained, mem, clean


@pytest.fixture(scope="module")
def work(models):
    return _work(models, N)


def run_fast(benchmark, fast):
    """``fast()`` once, and its seconds: as pytest-benchmark measured them, or, under
    ``--benchmark-disable`` (no stats; the call still runs once), by the wall clock."""
    t0 = time.perf_counter()
    result = benchmark.pedantic(fast, rounds=1, iterations=1)
    return result, benchmark.stats.stats.mean if benchmark.stats else time.perf_counter() - t0


def _compare(benchmark, fast, slow, name, n=N):
    result, fast_seconds = run_fast(benchmark, fast)
    t0 = time.perf_counter()
    reference = slow()
    ref_seconds = time.perf_counter() - t0
    benchmark.extra_info.update(reference_seconds=ref_seconds, speedup=ref_seconds / fast_seconds, n=n)
    print(f"\n{name}: fast {fast_seconds:.1f}s, paper-style {ref_seconds:.1f}s, speed-up x{ref_seconds / fast_seconds:.1f}")
    return result, reference


def test_layer_swapping_speed(benchmark, work):
    adapter, enc, labels, noisy, _, mem, clean = work
    with torch.no_grad():
        fast, slow = _compare(benchmark, lambda: ls.swap_cached(adapter, mem, clean, enc, labels, noisy, 64),
                              lambda: swap_by_copy(adapter, mem, clean, enc, labels, noisy, 1), "layer swapping")
    for w in fast:
        assert fast[w]["noisy_acc"] == pytest.approx(slow[w]["noisy_acc"])


def test_gradient_attribution_speed(benchmark, work):
    adapter, enc, labels, noisy, _, mem, _ = work
    clean = ga.clean_sample([i for i in range(N) if i not in noisy], len(noisy), 1)

    def slow():
        g_n = group_gradient_per_example(adapter, mem, enc, noisy, labels)
        g_c = group_gradient_per_example(adapter, mem, enc, clean, labels)
        return ga.layer_l1(adapter, mem, {n: g_n[n] - g_c[n] for n in g_n}, 6)

    fast, slow = _compare(
        benchmark, lambda: ga.layer_l1(adapter, mem, ga.gradient_difference(adapter, mem, enc, noisy, clean, labels, 32), 6),
        slow, "gradient attribution")
    assert fast == pytest.approx(slow, rel=1e-4)


def test_probing_speed(benchmark, work):
    adapter, enc, _, noisy, _, mem, _ = work
    targets = torch.zeros(N, dtype=torch.long)
    targets[noisy] = 1
    p = pr.DEFAULTS

    def fast():
        feats = pr.sentence_features(adapter, mem, enc, 64)
        return pr.train_probes(feats, targets, [(l, s) for s in p["seeds"] for l in range(7)], p)

    def slow():  # features one example at a time, one probe at a time
        feats = torch.stack([pr.sentence_features(adapter, mem, type(enc)([enc.ids[i]], enc.pad_id), 1)[:, 0]
                             for i in range(N)], dim=1)
        return [pr.train_probes(feats, targets, [(l, s)], p)[0] for s in p["seeds"] for l in range(7)]

    a, b = _compare(benchmark, fast, slow, "probing")
    for x, y in zip(a, b):
        assert x["test_f1"] == pytest.approx(y["test_f1"], abs=0.05)


def test_layer_retraining_speed(benchmark, models):
    adapter, enc, labels, noisy, pretrained, mem, _ = _work(models, N_RETRAIN)
    p = {**lr.DEFAULTS, "epochs": 1}
    clean = [i for i in range(N_RETRAIN) if i not in noisy]
    train, held = lr.heldout_split(clean, len(noisy), 42)
    evals = {"noisy": noisy, "heldout": held}

    def retrain_all(compute=None):
        cache = lr.layer_input_cache(adapter, mem, enc, 64)
        return {w: lr.retrain_window(adapter, mem, pretrained, w, enc, labels, train, evals, p, 1, cache=cache,
                                     compute=compute)
                for w in lr.windows(6)}

    def slow():
        return {w: lr.retrain_window(adapter, mem, pretrained, w, enc, labels, train, evals, p, 1, paper_style=True)
                for w in lr.windows(6)}

    a, b = _compare(benchmark, retrain_all, slow, "layer retraining", n=N_RETRAIN)
    for w in a:
        assert a[w]["noisy"] == pytest.approx(b[w]["noisy"], abs=0.02)
    # the cpu-fast profile's compute settings (bf16, length-grouped batches): faster, not equal
    t0 = time.perf_counter()
    c = retrain_all(profile_config("cpu-fast").compute)
    fast_seconds = time.perf_counter() - t0
    gap = sum(abs(c[w]["noisy"] - b[w]["noisy"]) for w in b) / len(b)
    prof_c, prof_b = _retraining_profile(c), _retraining_profile(b)
    mcog_gap = abs(mcog(prof_c) - mcog(prof_b))
    layer_gap = max(abs(x - y) for x, y in zip(prof_c, prof_b))
    benchmark.extra_info.update(cpu_fast_seconds=fast_seconds, cpu_fast_speedup=benchmark.extra_info["reference_seconds"]
                                / fast_seconds, cpu_fast_mean_abs_noisy_acc_gap=gap, cpu_fast_mcog_gap=mcog_gap,
                                cpu_fast_max_layer_weight_gap=layer_gap)
    print(f"layer retraining, cpu-fast compute: {fast_seconds:.1f}s, speed-up "
          f"x{benchmark.extra_info['cpu_fast_speedup']:.1f}, mean |noisy acc gap| {gap:.3f} "
          f"({len(noisy)} noisy examples), |M-CoG gap| {mcog_gap:.2f}, max |layer weight gap| {layer_gap:.3f}")
    assert mcog_gap <= 0.25 and layer_gap <= 0.05


def _retraining_profile(per_window: dict) -> list[float]:
    errors = lr.normalised_errors({w: r["noisy"] for w, r in per_window.items()}, 6)
    return normalise(layer_weights_from_windows(6, errors))


def test_training_speed(benchmark, models):
    """The fine-tuning loop itself (2 epochs on the workload): exact settings against cpu-fast's
    compute settings (bf16, length-grouped batches, training set scored until the first fit)."""
    adapter, enc, labels, noisy, pretrained, _, _ = _work(models, N)
    clean = [i for i in range(N) if i not in noisy]
    cfg = profile_config("cpu", train={"epochs": 2})
    names = [n for n, _ in pretrained.named_parameters() if adapter.parameter_group(n) != "embeddings"]

    def train(compute=None):
        model = copy.deepcopy(pretrained)
        return train_classifier(model, names, enc, labels, noisy, clean, enc, labels, cfg.train, progress=False,
                                compute=compute)

    fast, exact = _compare(benchmark, lambda: train(profile_config("cpu-fast").compute), train,
                           "training (2 epochs), cpu-fast compute vs exact")
    assert len(fast.history) == len(exact.history) == 2
    assert abs(fast.history[-1].loss - exact.history[-1].loss) < 0.2
    assert abs(fast.history[-1].clean_acc - exact.history[-1].clean_acc) < 0.1  # both learn the task alike
