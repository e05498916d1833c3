from __future__ import annotations

import pytest
import torch

from memlocbench.store import ArtefactStore, atomic_write_text
from store_faults import before_commit


def test_put_then_found_under_the_same_key(tmp_path):
    store = ArtefactStore(tmp_path)
    spec = {"task": "sst2", "seed": 1}
    key = store.key(spec)
    assert key == store.key({"seed": 1, "task": "sst2"})  # key order does not matter
    assert key != store.key({"task": "sst2", "seed": 2})
    assert not store.has("models", key)
    store.put("models", key, {"hello": 1}, {"final": {"w": torch.arange(6.0).reshape(2, 3)}})
    assert store.has("models", key)
    assert store.meta("models", key) == {"hello": 1}
    assert torch.equal(store.tensors("models", key, "final")["w"], torch.arange(6.0).reshape(2, 3))


def test_interrupted_write_leaves_nothing_behind(tmp_path, monkeypatch):
    store = ArtefactStore(tmp_path)
    key = store.key({"x": 1})
    seen = []

    def interrupt():  # the entry's files are all written, not yet committed
        seen.extend(sorted(p.name for tmp in (tmp_path / "models").glob(".tmp-*") for p in tmp.iterdir()))
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        before_commit(patch, store, interrupt)
        with pytest.raises(KeyboardInterrupt):
            store.put("models", key, {"a": 1}, {"final": {"w": torch.zeros(3)}})
    assert seen == ["final.safetensors", "manifest.json", "meta.json"]
    assert not store.has("models", key)
    assert list((tmp_path / "models").iterdir()) == []
    store.put("models", key, {"a": 2})  # and the next attempt succeeds
    assert store.meta("models", key) == {"a": 2}


def test_shipped_put_has_no_fault_injection_switch():
    """Interruptions are injected by the tests (store_faults), never through the shipped API."""
    import inspect

    assert list(inspect.signature(ArtefactStore.put).parameters) == ["self", "kind", "key", "meta", "tensors"]


def test_atomic_write_text_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "f.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]


def test_a_committed_entry_holds_only_its_recorded_files(tmp_path):
    store = ArtefactStore(tmp_path)
    key = store.key({"x": 2})
    entry = store.put("models", key, {"a": 1}, {"final": {"w": torch.ones(2)}})
    assert sorted(p.name for p in entry.iterdir()) == ["final.safetensors", "manifest.json", "meta.json"]
