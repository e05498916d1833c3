"""The fast implementations of the methods give the same results as the plain, paper-style ones."""

from __future__ import annotations

import random

import pytest
import torch

from conftest import minilm_pair
from memlocbench_methods.gradient_attribution import gradient_difference, layer_l1
from memlocbench_methods.layer_retraining import heldout_split, layer_input_cache, normalised_errors, retrain_window
from memlocbench_methods.probing import DEFAULTS as PROBE_DEFAULTS
from memlocbench_methods.probing import sentence_features, train_probes, weights_from_f1
from references.gradient_attribution import group_gradient_per_example


@pytest.fixture(scope="module")
def setup(plugins, mirror):
    # (adapter, enc, labels, pretrained, "memorising" = pretrained + noise outside the embeddings)
    return minilm_pair(plugins, mirror, n_rows=40, max_length=40, scale=0.02, seed=3, embeddings_too=False)


def test_batched_gradient_difference_equals_per_example(setup):
    adapter, enc, labels, _, mem = setup
    noisy = list(range(0, 40, 3))
    clean = [i for i in range(40) if i % 3][::2]
    fast = gradient_difference(adapter, mem, enc, noisy, clean, labels, batch_size=8)
    g_noisy = group_gradient_per_example(adapter, mem, enc, noisy, labels)
    g_clean = group_gradient_per_example(adapter, mem, enc, clean, labels)
    assert fast.keys() == g_noisy.keys() and len(fast) > 0
    for n in fast:
        assert torch.allclose(fast[n], g_noisy[n] - g_clean[n], atol=1e-6, rtol=1e-4), n
    scores = layer_l1(adapter, mem, fast, 6)
    assert len(scores) == 6 and all(s > 0 for s in scores)
    with pytest.raises(ValueError, match="overlap"):
        gradient_difference(adapter, mem, enc, noisy, noisy[:2], labels, batch_size=8)


def test_cached_retraining_equals_full_network_retraining(setup):
    adapter, enc, labels, pretrained, mem = setup
    p = {"epochs": 1, "learning_rate": 3e-5, "batch_size": 8, "warmup_fraction": 0.1, "max_grad_norm": 1.0,
         "weight_decay": 0.01, "eval_batch_size": 16}
    cache = layer_input_cache(adapter, mem, enc, 16)
    train, evals = list(range(24)), {"rest": list(range(24, 40))}
    for window in [(2, 3), (0, 1), (5, 5)]:
        fast, m_fast = retrain_window(adapter, mem, pretrained, window, enc, labels, train, evals, p, 1,
                                      cache=cache, return_model=True)
        slow, m_slow = retrain_window(adapter, mem, pretrained, window, enc, labels, train, evals, p, 1,
                                      cache=None, return_model=True)
        assert fast == slow
        for (n, a), (_, b) in zip(m_fast.named_parameters(), m_slow.named_parameters()):
            assert torch.allclose(a, b, atol=1e-5), (window, n)
        changed = [n for (n, a), (_, b) in zip(m_fast.named_parameters(), mem.named_parameters())
                   if not torch.equal(a, b)]
        groups = {adapter.parameter_group(n) for n in changed}
        assert groups <= {"head", *range(window[0], window[1] + 1)}, groups


def test_retraining_normalisation_and_heldout_split():
    err = normalised_errors({(0, 0): 0.9, (0, 1): 0.5, (1, 1): 0.2}, 2)
    assert err == {(0, 0): pytest.approx(1 - 0.4 / 0.5), (0, 1): 1.0, (1, 1): pytest.approx(1 + 0.3 / 0.5)}
    train, held = heldout_split(list(range(100)), 15, 42)
    assert len(held) == 15 and len(train) == 85 and not set(train) & set(held)
    assert heldout_split(list(range(100)), 15, 42) == (train, held)


def test_stacked_probes_equal_probes_trained_alone(setup):
    adapter, enc, _, _, mem = setup
    feats = sentence_features(adapter, mem, enc, 16)
    assert feats.shape == (7, 40, 384)
    targets = torch.zeros(40, dtype=torch.long)
    targets[random.Random(0).sample(range(40), 10)] = 1
    p = {**PROBE_DEFAULTS, "epochs": 12, "select_after_epoch": 3, "batch_size": 8}
    jobs = [(0, 0), (6, 0), (3, 1)]
    together = train_probes(feats, targets, jobs, p)
    alone = [train_probes(feats, targets, [job], p)[0] for job in jobs]
    for a, b in zip(together, alone):
        assert a["test_f1"] == pytest.approx(b["test_f1"]) and a["val_f1"] == pytest.approx(b["val_f1"])
        assert a["n_train"] == 28 and a["n_val"] == 4 and a["n_test"] == 8


def test_probe_weights_are_positive_gains():
    assert weights_from_f1([0.0, 0.2, 0.1, 0.5]) == pytest.approx([0.2, 0.0, 0.4])


def test_probing_flags_profiles_from_too_few_noisy_test_examples():
    from memlocbench_methods.probing import MIN_TEST_NOISY, Probing

    few = {"probes": [{"n_test_noisy": 9}, {"n_test_noisy": 11}]}
    reasons = Probing.flags(few)
    assert len(reasons) == 1 and "9-11 noisy examples" in reasons[0] and f"fewer than {MIN_TEST_NOISY}" in reasons[0]
    assert Probing.flags({"probes": [{"n_test_noisy": MIN_TEST_NOISY}, {"n_test_noisy": 40}]}) == []
    assert Probing.flags({}) == []
