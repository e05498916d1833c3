"""Store integrity (issue 11, item 5): digests verified on load, damaged entries quarantined and
recomputed, a rival's commit counts as success, temporary folders of dead writers are swept."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from memlocbench.errors import CorruptEntryError, MemlocbenchError, StoreWarning
from memlocbench.store import ArtefactStore, _host_id
from store_faults import before_commit

W = torch.arange(40_000, dtype=torch.float32).reshape(200, 200)  # 160 KB of weights


def _entry(tmp_path, kind="models", meta=None, tensors=True):
    store = ArtefactStore(tmp_path)
    key = store.key({"kind": kind, "n": 1})
    store.put(kind, key, meta or {"role": "memorising", "history": [0.5]},
              {"final": {"w": W}, "first_fit": {"w": W + 1}} if tensors else None)
    return store, key, store.path(kind, key)


def _quarantined(store, kind, key):
    folder = store.root / "quarantine" / kind
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(key)) if folder.is_dir() else []


def test_entry_records_digests_of_every_file(tmp_path):
    store, key, entry = _entry(tmp_path)
    files = json.loads((entry / "manifest.json").read_text())["files"]
    assert set(files) == {"meta.json", "final.safetensors", "first_fit.safetensors"}
    assert store.has("models", key) and torch.equal(store.tensors("models", key, "final")["w"], W)


def test_overwritten_bytes_inside_weights_are_quarantined_not_loaded(tmp_path):
    store, key, entry = _entry(tmp_path)
    data = bytearray((entry / "final.safetensors").read_bytes())
    data[60_000:60_000 + 65_536] = b"\0" * 65_536  # 64 KiB overwritten inside the tensor data
    (entry / "final.safetensors").write_bytes(bytes(data))
    with pytest.warns(StoreWarning, match=rf"{key}.*final.safetensors does not match"):
        assert not store.has("models", key)  # the caller recomputes it
    assert not entry.exists() and len(_quarantined(store, "models", key)) == 1
    store.put("models", key, {"role": "again"}, {"final": {"w": W}})
    assert store.meta("models", key) == {"role": "again"}


@pytest.mark.parametrize("kind,damage", [
    ("models", "edit-meta"), ("models", "truncate-weights"), ("models", "damaged-header"),
    ("models", "missing-weights"), ("models", "missing-meta"), ("models", "no-manifest"),
    ("models", "garbage-manifest"), ("layer-scores", "edit-meta"), ("layer-scores", "missing-meta"),
])
def test_damaged_entry_is_absent_quarantined_and_named(tmp_path, kind, damage):
    store, key, entry = _entry(tmp_path, kind, meta={"raw": [0.1, 0.2, 0.7]}, tensors=kind == "models")
    if damage == "edit-meta":
        (entry / "meta.json").write_text(json.dumps({"raw": [0.7, 0.2, 0.1]}, indent=2, sort_keys=True))
    elif damage == "truncate-weights":
        data = (entry / "final.safetensors").read_bytes()
        (entry / "final.safetensors").write_bytes(data[: len(data) // 3])
    elif damage == "damaged-header":
        data = (entry / "final.safetensors").read_bytes()
        (entry / "final.safetensors").write_bytes(b"\xff" * 12 + data[12:])
    elif damage == "missing-weights":
        (entry / "final.safetensors").unlink()
    elif damage == "missing-meta":
        (entry / "meta.json").unlink()
    elif damage == "no-manifest":  # an entry written before digests were recorded
        (entry / "manifest.json").unlink()
    elif damage == "garbage-manifest":
        (entry / "manifest.json").write_bytes(b"\x00\x01{not json")
    with pytest.warns(StoreWarning) as rec:
        assert not store.has(kind, key)
    message = str(rec[0].message)
    assert str(entry) in message and "quarantine" in message
    assert not entry.exists() and _quarantined(store, kind, key)


@pytest.mark.parametrize("read", ["meta", "tensors"])
def test_reading_a_damaged_entry_raises_a_named_error_not_a_traceback(tmp_path, read):
    store, key, entry = _entry(tmp_path)
    assert store.has("models", key)
    if read == "meta":
        (entry / "meta.json").write_text('{"role": "forged"}')
    else:
        (entry / "final.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad")
    with pytest.warns(StoreWarning), pytest.raises(CorruptEntryError) as exc:
        store.meta("models", key) if read == "meta" else store.tensors("models", key, "final")
    assert isinstance(exc.value, MemlocbenchError)  # the CLI prints it and exits non-zero
    assert str(entry) in str(exc.value) and "quarantine" in str(exc.value) and "Rerun" in str(exc.value)
    assert not entry.exists()


def test_rival_committing_first_is_success(tmp_path, monkeypatch):
    store, rival = ArtefactStore(tmp_path), ArtefactStore(tmp_path)
    key = store.key({"k": 1})
    before_commit(monkeypatch, store, lambda: rival.put("models", key, {"who": "rival"}))
    out = store.put("models", key, {"who": "me"})
    assert out == store.path("models", key)
    assert store.meta("models", key) == {"who": "rival"}  # theirs is kept
    assert [p.name for p in (tmp_path / "models").iterdir()] == [key]  # our temporary folder is gone


def test_rename_losing_the_race_with_enotempty_is_success(tmp_path, monkeypatch):
    """The rival commits between our existence check and our rename: os.replace fails with ENOTEMPTY."""
    import memlocbench.store as store_mod

    store, rival = ArtefactStore(tmp_path), ArtefactStore(tmp_path)
    key = store.key({"k": 2})
    real_replace, calls = os.replace, []

    def racing_replace(src, dst):
        if not calls and str(dst).endswith(key):
            calls.append(1)
            monkeypatch.setattr(store_mod.os, "replace", real_replace)
            rival.put("models", key, {"who": "rival"})
        return real_replace(src, dst)

    monkeypatch.setattr(store_mod.os, "replace", racing_replace)
    assert store.put("models", key, {"who": "me"}) == store.path("models", key)
    assert calls and store.meta("models", key) == {"who": "rival"}
    assert [p.name for p in (tmp_path / "models").iterdir()] == [key]


def test_temporary_folders_of_dead_writers_are_swept_live_ones_kept(tmp_path):
    import socket

    store = ArtefactStore(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        kind_dir = tmp_path / "models"
        host = _host_id()
        for name, pid in (("dead", dead_pid), ("live", live.pid)):
            d = kind_dir / f".tmp-{name:0<16}-{host}-{pid}-abcd1234"  # named as put names them
            d.mkdir(parents=True)
            (d / "final.safetensors").write_bytes(b"partial")
        for name, pid in (("olddead", dead_pid), ("oldlive", live.pid)):  # named by older versions
            d = kind_dir / f".tmp-{name:0<16}-{pid}-abcd1234"
            d.mkdir(parents=True)
            (d / ".owner-host").write_text(socket.gethostname())
        # a writer killed before writing anything: attributed by its name alone, swept at once
        (kind_dir / f".tmp-{'empty':0<16}-{host}-{dead_pid}-abcd1234").mkdir()
        store.put("models", store.key({"k": 3}), {"a": 1})
        left = sorted(p.name for p in kind_dir.iterdir() if p.name.startswith(".tmp-"))
        assert left == sorted([f".tmp-{'live':0<16}-{host}-{live.pid}-abcd1234",
                               f".tmp-{'oldlive':0<16}-{live.pid}-abcd1234"])
    finally:
        live.kill()
        live.wait()


def test_writer_killed_between_writing_and_committing_leaves_no_entry_and_the_retry_commits(tmp_path):
    """A real process dies (os._exit, as SIGKILL would) after writing every file of an entry but before
    the rename that commits it: the entry is absent, its temporary folder is swept once its writer is
    dead, and the next put commits the entry."""
    from store_faults import CRASH_EXIT_CODE, crash_once_env

    marker = tmp_path / "armed" / "crashed"
    marker.parent.mkdir()
    root = tmp_path / "store"
    script = ("import sys, torch; from store_faults import install_crash_once; install_crash_once(); "
              "from memlocbench.store import ArtefactStore; s = ArtefactStore(sys.argv[1]); "
              "s.put('models', s.key({'k': 4}), {'a': 1}, {'final': {'w': torch.ones(3)}})")
    env = {**os.environ, **crash_once_env("models/", marker)}
    dead = subprocess.run([sys.executable, "-c", script, str(root)], env=env, capture_output=True, text=True)
    assert dead.returncode == CRASH_EXIT_CODE, dead.stderr
    assert marker.read_text().startswith("crashed once before committing models/")
    store = ArtefactStore(root)
    key = store.key({"k": 4})
    left = [p for p in (root / "models").iterdir()]
    assert [p.name[:5] for p in left] == [".tmp-"]  # written, never committed
    assert sorted(p.name for p in left[0].iterdir()) == ["final.safetensors", "manifest.json", "meta.json"]
    assert not store.has("models", key) and not (root / "quarantine").exists()
    assert not left[0].exists()  # its writer is dead: swept on the store's first look
    again = subprocess.run([sys.executable, "-c", script, str(root)], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr  # the marker exists: the retry runs normally
    assert store.meta("models", key) == {"a": 1} and [p.name for p in (root / "models").iterdir()] == [key]
