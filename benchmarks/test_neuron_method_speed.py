"""The neuron-level methods' fast paths against their plain MemPi-style references
(``tests/references/neurons.py``: one example, one neuron, one integration step at a time), on the same
workload in the same run; the speed-up is printed and kept in the benchmark's ``extra_info``. Run with
``.venv/bin/pytest benchmarks/test_neuron_method_speed.py -s``.

Workload: a tiny random BERT (3 layers, 64 wide, 128 neurons per layer, MiniLM's tokenizer; the
methods' cost does not depend on how the weights were trained) on the first N SST-2 training rows
(N = $MLB_BENCH_NEURON_N, default 48), 15% of them marked noisy with flipped labels; both sides score
the noisy rows against as many clean ones. Each pair must agree within 1e-4 of the largest score
(zero-out: 1e-2, see there).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
import torch

from memlocbench.data.encoding import encode
from memlocbench.run.method_context import MethodContext
from memlocbench.run.settings import profile_config
from memlocbench_methods.activations import Activations
from memlocbench_methods.integrated_gradients import IntegratedGradients
from memlocbench_methods.zero_out import ZeroOut
from test_method_speed import _compare, _rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import single_thread  # noqa: E402
from references.neurons import (GivenModel, MethodData, activations_reference, clean_sample,  # noqa: E402
                                integrated_gradients_reference, tiny_bert_adapter, zero_out_reference)

N = int(os.environ.get("MLB_BENCH_NEURON_N", "48"))
L, STEPS = 3, 20


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def work():
    adapter = tiny_bert_adapter("bench-bert", L, 64, 128)
    tok = adapter.load_tokenizer()
    rows = _rows(N)
    noisy = sorted(random.Random(1).sample(range(N), int(0.15 * N)))
    labels = [1 - r["label"] if i in noisy else r["label"] for i, r in enumerate(rows)]
    enc = encode(tok, [r["sentence"] for r in rows], 64)
    torch.manual_seed(0)
    model = adapter.load_model(2).eval()
    data = MethodData(noisy, [i for i in range(N) if i not in noisy], labels)
    groups = (noisy, clean_sample(data.clean_idx, len(noisy), 1))
    return adapter, tok, enc, data, model, groups


def _fast(work, method, params):
    adapter, tok, enc, data, model, _ = work
    cfg = profile_config("cpu", methods={method.info.name: params})
    ctx = MethodContext("sst2", adapter, tok, data, enc, GivenModel(model), cfg, L, progress=False)
    return lambda: method.localise(ctx).neurons


def _agree(fast, reference, tolerance=1e-4):
    torch.testing.assert_close(fast.double(), reference, rtol=0, atol=tolerance * float(reference.abs().max()))


def test_zero_out_speed(benchmark, work):
    _, _, enc, data, model, (noisy, clean) = work
    fast, slow = _compare(benchmark, _fast(work, ZeroOut(), {"n_noisy": 0}),
                          lambda: zero_out_reference(model, enc, data.noisy_labels, noisy, clean), "zero-out", n=N)
    # the untrained model's zero-out effects are about 1e-7 nats, fp32 forward passes differ by about 1e-9
    # (tests/plugins/test_neuron_methods.py checks 1e-3 on a trained model)
    _agree(fast, slow, 1e-2)


def test_activations_speed(benchmark, work):
    _, _, enc, _, model, (noisy, clean) = work
    fast, slow = _compare(benchmark, _fast(work, Activations(), {}),
                          lambda: activations_reference(model, enc, noisy, clean), "activations", n=N)
    _agree(fast, slow)


def test_integrated_gradients_speed(benchmark, work):
    _, _, enc, data, model, (noisy, clean) = work
    fast, slow = _compare(benchmark, _fast(work, IntegratedGradients(), {"steps": STEPS}),
                          lambda: integrated_gradients_reference(model, enc, data.noisy_labels, noisy, clean, STEPS),
                          f"integrated gradients ({STEPS} steps)", n=N)
    _agree(fast, slow)
