"""Planning a grid is linear in its units (issue 33, D13: the dry run of 5k units took 25 s, of 10k
73 s, because every unit planned was compared with every unit planned before it, and every seed hashed
the whole dataset again several times).

Not a timed test: it counts. The store keys are strings that count their comparisons and hashes (how
planning finds a unit planned already), and the planner's expensive steps are counted per call; a
grid 4x as large must cost at most 6x the key operations (linear: about 4x; the old all-pairs scan: 16x)
and no more dataset hashes, model builds or timing-log reads at all."""

from __future__ import annotations

import pytest

from memlocbench.data.noisy_dataset import NoisyDataset
from memlocbench.grid import estimate as estimate_mod
from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import dry_run
from memlocbench.grid.plan import build_plan
from memlocbench.store import ArtefactStore


class CountingKey(str):
    """A store key that counts how often it is compared or hashed."""

    ops = 0

    def __eq__(self, other):
        CountingKey.ops += 1
        return str.__eq__(self, other)

    def __ne__(self, other):
        CountingKey.ops += 1
        return str.__ne__(self, other)

    def __hash__(self):
        CountingKey.ops += 1
        return str.__hash__(self)


class CountingStore(ArtefactStore):
    @staticmethod
    def key(spec):
        return CountingKey(ArtefactStore.key(spec))


def _grid(mirror, store, n_seeds: int):
    return load_grid_config(None, {"tasks": ["sst2"], "methods": ["layer-swapping", "gradient-attribution"],
                                   "seeds": list(range(1, n_seeds + 1)), "train_size": 32, "max_length": 16,
                                   "epochs": 1, "data_dir": mirror, "cache_dir": store})


@pytest.fixture
def counted(monkeypatch):
    """Counters of the planner's expensive steps: dataset hashes, model builds."""
    calls = {"fingerprint": 0, "load_model": 0}
    fingerprint = NoisyDataset.fingerprint

    def counting_fingerprint(self):
        calls["fingerprint"] += 1
        return fingerprint(self)

    monkeypatch.setattr(NoisyDataset, "fingerprint", counting_fingerprint)
    from memlocbench.models.hf_adapter import HFAdapter

    load_model = HFAdapter.load_model

    def counting_load_model(self, num_labels):
        calls["load_model"] += 1
        return load_model(self, num_labels)

    monkeypatch.setattr(HFAdapter, "load_model", counting_load_model)
    return calls


def test_planning_is_linear_in_the_units(plugins, mirror, tmp_path, counted):
    cost = {}
    for n in (8, 32):
        for k in counted:
            counted[k] = 0
        store = CountingStore(tmp_path / f"store{n}")
        CountingKey.ops = 0
        plan = build_plan(plugins, _grid(mirror, store.root, n), store)
        # per seed: memorising, clean, classifier-only, and the two methods
        assert len(plan.units) == 5 * n and all(isinstance(u.key, CountingKey) for u in plan.units)
        cost[n] = (CountingKey.ops, dict(counted), len(plan.units))
    (small_ops, small_calls, small_units), (big_ops, big_calls, big_units) = cost[8], cost[32]
    assert big_units == 4 * small_units
    assert big_ops <= 6 * small_ops, f"key operations grew {big_ops / small_ops:.1f}x for 4x the units: {cost}"
    assert big_ops <= 4 * big_units, cost  # a few look-ups per unit, not one per unit planned before it
    # the dataset is hashed and the model built a fixed number of times, however many seeds
    assert all(big_calls[k] <= small_calls[k] for k in big_calls) and big_calls["fingerprint"] <= 2, cost


def test_the_estimate_reads_each_timing_log_once(plugins, mirror, tmp_path, monkeypatch):
    reads = []
    read_samples = estimate_mod.read_samples

    def counting(path):
        reads.append(path)
        return read_samples(path)

    monkeypatch.setattr(estimate_mod, "read_samples", counting)
    d = dry_run(plugins, _grid(mirror, tmp_path / "store", 24))
    assert len(d.plan.units) == 120
    # one log per unit kind x model x profile x device: train, train-classifier-only and the two methods
    assert len(reads) == len(set(reads)) == 4
