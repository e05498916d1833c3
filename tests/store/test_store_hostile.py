"""The store against what a hostile or broken file system puts in its way (issue 33, D6, D12, D22, D28):
an entry copied under another key, a FIFO, /dev/zero or a dangling link in place of a file, a file in
place of an entry, a manifest nested thousands deep, a full disk and a read-only store. Each is a clear
error or a quarantined entry that is recomputed; nothing hangs and nothing is served under a wrong key."""

from __future__ import annotations

import errno
import json
import os
import threading

import pytest
import torch

from memlocbench.errors import CorruptEntryError, InvalidInputError, NotARegularFileError, StoreWarning, StoreWriteError
from memlocbench.files import read_regular_file
from memlocbench.store import ArtefactStore


def _within(seconds, fn):
    """fn() run in a daemon thread; fails the test if it does not return in time (a hang)."""
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _entry(store, spec, tensors=True):
    key = store.key(spec)
    store.put("models", key, {"spec": spec, "a": 1}, {"final": {"w": torch.ones(2)}} if tensors else None)
    return key


def test_an_entry_copied_under_another_key_is_not_served(tmp_path):
    import shutil

    store = ArtefactStore(tmp_path)
    twin = _entry(store, {"role": "clean"})
    wanted = store.key({"role": "memorising"})
    shutil.copytree(store.path("models", twin), store.path("models", wanted))  # the twin posing as the model
    with pytest.warns(StoreWarning, match="copied or renamed"):
        assert not ArtefactStore(tmp_path).has("models", wanted)
    assert not store.path("models", wanted).exists() and store.has("models", twin)
    shutil.copytree(store.path("models", twin), store.path("models", wanted))
    with pytest.warns(StoreWarning), pytest.raises(CorruptEntryError, match="copied or renamed"):
        ArtefactStore(tmp_path).meta("models", wanted)  # read directly, without has(): refused too


def test_put_refuses_a_spec_of_another_key(tmp_path):
    store = ArtefactStore(tmp_path)
    with pytest.raises(ValueError, match="hashes to another key"):
        store.put("models", store.key({"a": 1}), {"spec": {"a": 2}})


@pytest.mark.parametrize("what", ["fifo", "dev-zero", "dangling", "folder"])
@pytest.mark.parametrize("name", ["meta.json", "final.safetensors", "manifest.json"])
def test_no_hang_on_a_special_file_in_an_entry(tmp_path, what, name):
    store = ArtefactStore(tmp_path)
    key = _entry(store, {"k": 1})
    path = store.path("models", key) / name
    path.unlink()
    if what == "fifo":
        os.mkfifo(path)
    elif what == "dev-zero":
        path.symlink_to("/dev/zero")
    elif what == "dangling":
        path.symlink_to(tmp_path / "nowhere")
    else:
        path.mkdir()
    fresh = ArtefactStore(tmp_path)
    with pytest.warns(StoreWarning):
        assert _within(20, lambda: fresh.has("models", key)) is False
    assert not store.path("models", key).exists()  # quarantined; the next put recomputes it
    _entry(fresh, {"k": 1})
    assert fresh.meta("models", key)["a"] == 1


def test_a_file_in_place_of_an_entry_is_moved_aside_and_the_entry_written(tmp_path):
    store = ArtefactStore(tmp_path)
    key = store.key({"k": 2})
    (tmp_path / "models").mkdir()
    store.path("models", key).write_text("not an entry")
    with pytest.warns(StoreWarning, match="not an entry folder"):
        assert not store.has("models", key)
    _entry(store, {"k": 2})
    assert store.meta("models", key)["a"] == 1
    # and when put finds it there first
    key3 = store.key({"k": 3})
    store.path("models", key3).write_text("not an entry")
    with pytest.warns(StoreWarning):
        _entry(store, {"k": 3})
    assert store.has("models", key3)


def test_a_deeply_nested_manifest_is_a_damaged_entry_not_a_recursion_error(tmp_path):
    store = ArtefactStore(tmp_path)
    key = _entry(store, {"k": 4})
    (store.path("models", key) / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.warns(StoreWarning, match="manifest"):
        assert not ArtefactStore(tmp_path).has("models", key)


@pytest.mark.parametrize("where,err,message", [("_write_entry", errno.ENOSPC, "No space left on device"),
                                                ("_commit", errno.EROFS, "Read-only file system")])
def test_a_full_disk_or_read_only_store_mid_run_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch, where,
                                                                                      err, message):
    store = ArtefactStore(tmp_path)
    _entry(store, {"k": 0})

    def fail(*_a, **_k):
        raise OSError(err, message, str(tmp_path / "models" / "x"))

    monkeypatch.setattr(ArtefactStore, where, staticmethod(fail) if where == "_write_entry" else fail)
    with pytest.raises(StoreWriteError, match=f"{message}.*--cache-dir"):
        _entry(store, {"k": 5})
    assert [p.name for p in (tmp_path / "models").iterdir()] == [store.key({"k": 0})]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_store_is_a_clear_error(tmp_path):
    store = ArtefactStore(tmp_path)
    _entry(store, {"k": 6})
    (tmp_path / "models").chmod(0o500)
    try:
        with pytest.raises(StoreWriteError, match="could not write models/"):
            _entry(store, {"k": 7})
    finally:
        (tmp_path / "models").chmod(0o700)


def test_metadata_that_is_not_json_is_a_clear_error(tmp_path):
    store = ArtefactStore(tmp_path)
    with pytest.raises(InvalidInputError, match="not storable as JSON.*keys must be strings"):
        store.put("layer-scores", store.key({"k": 8}), {"details": {("a", 1): 2, "b": 3}})
    assert not list((tmp_path / "layer-scores").glob(".tmp-*"))


# -- the reader itself --------------------------------------------------------------------------------
def test_read_regular_file_names_what_it_refuses(tmp_path):
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFileError, match="FIFO"):
        _within(10, lambda: read_regular_file(fifo))
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    with pytest.raises(NotARegularFileError, match="character device"):
        _within(10, lambda: read_regular_file(zero))
    dangling = tmp_path / "gone.json"
    dangling.symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(NotARegularFileError, match="does not exist"):
        read_regular_file(dangling)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 101)
    with pytest.raises(NotARegularFileError, match="101 bytes, more than the 100"):
        read_regular_file(big, max_bytes=100)
    assert read_regular_file(big, max_bytes=101) == b" " * 101
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "missing.json")
    json_file = tmp_path / "ok.json"
    json_file.write_text(json.dumps({"a": 1}))
    assert json.loads(read_regular_file(json_file)) == {"a": 1}
