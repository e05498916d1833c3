"""Layer swapping: the cached implementation gives exactly the reference's accuracies, and the
partial forward pass reproduces the full one."""

from __future__ import annotations

import pytest
import torch

from conftest import minilm_pair
from memlocbench.models.partial_forward import all_layer_inputs, logits_from, run_layers
from memlocbench_methods.layer_swapping import swap_cached
from references.layer_swapping import swap_by_copy


@pytest.fixture(scope="module")
def minilm(plugins, mirror):
    # b differs from a in every parameter, embeddings included
    return minilm_pair(plugins, mirror, n_rows=24, max_length=48, scale=0.05, seed=1, embeddings_too=True)


def test_partial_forward_matches_full_forward(minilm):
    adapter, enc, _, a, _ = minilm
    batch = enc.batch(list(range(8)))
    with torch.no_grad():
        full = a(**batch).logits
        h = all_layer_inputs(a, batch)
        for k in range(len(h)):
            assert torch.allclose(logits_from(adapter, a, batch, k, h[k]), full, atol=1e-5)
        for k in range(len(h) - 2):
            assert torch.allclose(run_layers(adapter, a, batch, k, k + 1, h[k]), h[k + 1], atol=1e-5)


def test_cached_swapping_equals_reference(minilm):
    adapter, enc, labels, a, b = minilm
    # as perturbed labels, use a's own predictions flipped on a third of the examples
    with torch.no_grad():
        pred = a(**enc.batch(list(range(len(labels))))).logits.argmax(-1).tolist()
    noisy = list(range(0, len(labels), 3))
    target = [1 - p if i in noisy else p for i, p in enumerate(pred)]
    fast = swap_cached(adapter, a, b, enc, target, noisy, batch_size=16)
    slow = swap_by_copy(adapter, a, b, enc, target, noisy, batch_size=1)
    assert fast.keys() == slow.keys() and len(fast) == 21
    for w in fast:
        assert fast[w]["noisy_acc"] == pytest.approx(slow[w]["noisy_acc"])
        assert fast[w]["clean_acc"] == pytest.approx(slow[w]["clean_acc"])
    assert len({round(v["clean_acc"], 6) for v in fast.values()}) > 1  # the windows do differ
