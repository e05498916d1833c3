from __future__ import annotations

import pytest
import torch

from memlocbench.store import ArtefactStore, atomic_write_text


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


def test_interrupted_write_leaves_nothing_behind(tmp_path):
    store = ArtefactStore(tmp_path)
    key = store.key({"x": 1})

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put("models", key, {"a": 1}, {"final": {"w": torch.zeros(3)}}, _before_commit=interrupt)
    assert not store.has("models", key)
    assert list((tmp_path / "models").iterdir()) == []
    store.put("models", key, {"a": 2})  # and the next attempt succeeds
    assert store.meta("models", key) == {"a": 2}


def test_atomic_write_text_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "f.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]
