"""The artefact store: trained weights (safetensors) and JSON metadata under content-hashed keys.

Layout: ``<root>/<kind>/<key>/`` holding ``meta.json``, any ``<name>.safetensors`` and
``manifest.json`` (the sha256 of every other file). The key is the sha256 of everything that
determines the artefact, so an identical request finds it and recomputes nothing.

Guarantees:

* **Atomic entries.** An entry is written into a temporary sibling folder
  ``.tmp-<key>-<host>-<pid>-<random>`` and renamed into place in one step; an interrupted write leaves
  no entry. Temporary folders of this host whose owning process is dead are swept on the next ``put``
  or first look (those of another host, or unattributable, after 6 hours). A write that fails (disk
  full, read-only store) is a ``StoreWriteError`` naming the store, and leaves nothing behind.
* **Integrity.** Every read is checked against the manifest's digests. An entry that is corrupt,
  truncated, missing a file or has no manifest (written by memlocbench < 0.2, before digests) is
  moved to ``<root>/quarantine/<kind>/<key>-<timestamp>`` with a :class:`StoreWarning` naming it,
  and counts as absent, so the caller recomputes it. So is an entry whose ``meta.json`` records the
  spec of another key (copied or renamed), and a file, FIFO or link in place of an entry or its files
  (never read: ``memlocbench.files.read_regular_file``).
* **Concurrent writers.** If another process commits the same key first, ``put`` keeps theirs,
  removes its own temporary folder and returns the committed entry.

Nothing is ever unpickled: tensors are safetensors, metadata is JSON.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch
from platformdirs import user_cache_dir
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from memlocbench.errors import (CorruptEntryError, InvalidInputError, NotARegularFileError, StoreWarning,
                                StoreWriteError)
from memlocbench.config.profiles import config_hash
from memlocbench.files import read_regular_file

CACHE_ENV = "MEMLOCBENCH_CACHE_DIR"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
QUARANTINE = "quarantine"
#: temporary folders that cannot be attributed to a live local process are removed after this long
_STALE_TMP_SECONDS = 6 * 3600
_HOST_FILE = ".owner-host"  # the host of a temporary folder, in folders named by older versions
#: a manifest lists a few digests: anything larger is not one
_MAX_MANIFEST_BYTES = 1024 * 1024


def _host_id(host: str | None = None) -> str:
    """Eight hex digits naming this machine in temporary folder names (so a sweep can attribute a folder
    whose writer was killed before it wrote anything)."""
    return hashlib.sha256((host or socket.gethostname()).encode()).hexdigest()[:8]


def default_cache_dir() -> Path:
    """The store's root when none is given: ``$MEMLOCBENCH_CACHE_DIR``, else the user cache folder."""
    return Path(os.environ.get(CACHE_ENV) or user_cache_dir("memlocbench"))


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file via a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


class ArtefactStore:
    """Content-addressed entries under ``root`` (default :func:`default_cache_dir`); see the module docstring."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self._verified: dict[Path, tuple] = {}  # entry folder -> file stats when last verified
        self._swept: set[str] = set()  # kinds whose temporary folders were swept by this object

    @staticmethod
    def key(spec: dict[str, Any]) -> str:
        """The key of an entry: the sha256 of its spec's canonical JSON (key order does not matter)."""
        return config_hash(spec)

    def path(self, kind: str, key: str) -> Path:
        """The folder of entry ``kind/key`` (whether or not it exists)."""
        return self.root / kind / key

    # -- integrity ---------------------------------------------------------------------------
    def _manifest(self, entry: Path) -> dict[str, str]:
        """The recorded digests of an entry; raises CorruptEntryError if absent or malformed."""
        try:
            data = json.loads(read_regular_file(entry / MANIFEST, _MAX_MANIFEST_BYTES))
        except FileNotFoundError:
            raise CorruptEntryError(entry, "no manifest.json (written before memlocbench recorded digests, "
                                           "or damaged)") from None
        except NotARegularFileError as exc:
            raise CorruptEntryError(entry, f"unreadable manifest.json ({exc})") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise CorruptEntryError(entry, f"unreadable manifest.json ({type(exc).__name__}: {exc})") from None
        files = data.get("files") if isinstance(data, dict) else None
        if (not isinstance(files, dict) or "meta.json" not in files
                or not all(isinstance(k, str) and isinstance(v, str) and "/" not in k and k not in ("", ".", "..")
                           for k, v in files.items())):
            raise CorruptEntryError(entry, "malformed manifest.json")
        return files

    def _read_verified(self, entry: Path, name: str, files: dict[str, str] | None = None) -> bytes:
        files = files if files is not None else self._manifest(entry)
        if name not in files:
            raise CorruptEntryError(entry, f"{name} is not recorded in manifest.json")
        try:
            data = read_regular_file(entry / name, max_bytes=None)
        except FileNotFoundError:
            raise CorruptEntryError(entry, f"{name} is missing") from None
        except (OSError, NotARegularFileError) as exc:
            raise CorruptEntryError(entry, f"{name} is unreadable ({exc})") from None
        if _sha256(data) != files[name]:
            raise CorruptEntryError(entry, f"{name} does not match its sha256 digest (modified or truncated)")
        return data

    def _stats(self, entry: Path, files: dict[str, str]) -> tuple:
        out = []
        for name in sorted([*files, MANIFEST]):
            st = (entry / name).stat()
            out.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
        return tuple(out)

    def verify(self, kind: str, key: str) -> None:
        """Check every file of an entry against its digest; raises CorruptEntryError (no quarantine)."""
        entry = self.path(kind, key)
        files = self._manifest(entry)
        for name in files:
            self._read_verified(entry, name, files)
        self._parse_meta(entry, key, self._read_verified(entry, "meta.json", files))
        self._verified[entry] = self._stats(entry, files)

    @staticmethod
    def _parse_meta(entry: Path, key: str, data: bytes) -> dict[str, Any]:
        """The metadata of entry ``key``: JSON, and, where it records the spec it was made from, a spec
        whose key is ``key`` (an entry copied or renamed under another key is not served as that key)."""
        try:
            meta = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise CorruptEntryError(entry, f"meta.json is not valid JSON ({type(exc).__name__}: {exc})") from None
        if isinstance(meta, dict) and isinstance(meta.get("spec"), dict):
            actual = ArtefactStore.key(meta["spec"])
            if actual != key:
                raise CorruptEntryError(entry, f"its meta.json records the spec of key {actual[:16]}…, not of "
                                               f"{key[:16]}… (copied or renamed from another entry)")
        return meta

    def quarantine(self, kind: str, key: str, reason: str) -> Path | None:
        """Move an entry aside to ``<root>/quarantine/<kind>/<key>-<timestamp>``, warning with its name."""
        entry = self.path(kind, key)
        self._verified.pop(entry, None)
        dest_dir = self.root / QUARANTINE / kind
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{key}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        try:
            os.replace(entry, dest)
        except FileNotFoundError:  # another process quarantined it first
            return None
        warnings.warn(f"store entry {entry} failed its integrity check ({reason}); moved to {dest} "
                      f"and it will be recomputed", StoreWarning, stacklevel=3)
        return dest

    def _check(self, kind: str, key: str) -> bool:
        """True if the entry exists and verifies; a damaged entry is quarantined (then False)."""
        entry = self.path(kind, key)
        if not entry.is_dir():
            if os.path.lexists(entry):  # a file or link where the entry's folder belongs
                self.quarantine(kind, key, "a file or link, not an entry folder, is in its place")
            return False
        try:
            files = self._manifest(entry)
            if self._verified.get(entry) == self._stats(entry, files):
                return True
            self.verify(kind, key)
            return True
        except FileNotFoundError:
            reason = "a file recorded in manifest.json is missing"
        except CorruptEntryError as exc:
            reason = exc.reason
        self._verified.pop(entry, None)
        if entry.exists():  # (else another process moved it away meanwhile)
            self.quarantine(kind, key, reason)
        return False

    def has(self, kind: str, key: str) -> bool:
        """Whether a complete, verified entry exists (a damaged one is quarantined and reported absent)."""
        if kind not in self._swept and (self.root / kind).is_dir():
            self._swept.add(kind)  # once per store object: leftovers of killed writers go on first look
            self._sweep(self.root / kind)
        return self._check(kind, key)

    # -- writing -----------------------------------------------------------------------------
    def _sweep(self, kind_dir: Path) -> None:
        """Remove temporary folders left by dead processes (or, unattributable, older than 6 hours)."""
        now, host = time.time(), socket.gethostname()
        for tmp in kind_dir.glob(".tmp-*"):
            try:
                parts = tmp.name.split("-")  # .tmp-<key16>-<host8>-<pid>-<random> (older: no host part)
                pid = int(parts[-2]) if len(parts) in (4, 5) and parts[-2].isdigit() else None
                if len(parts) == 5:
                    ours = parts[2] == _host_id(host)
                else:
                    try:
                        ours = read_regular_file(tmp / _HOST_FILE, 4096).decode("utf-8", "replace").strip() == host
                    except (OSError, NotARegularFileError):
                        ours = False
                if pid is not None and ours:
                    dead = pid != os.getpid() and not _pid_alive(pid)
                else:
                    dead = now - tmp.stat().st_mtime > _STALE_TMP_SECONDS
                if dead:
                    shutil.rmtree(tmp, ignore_errors=True)
            except FileNotFoundError:
                pass

    def put(self, kind: str, key: str, meta: dict[str, Any],
            tensors: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
        """Store ``meta`` (JSON) and named tensor files atomically; returns the entry's folder.

        The entry is written completely into a temporary folder, then committed by one rename
        (``_commit``). If another process committed the same key first, its entry is kept and returned."""
        spec = meta.get("spec") if isinstance(meta, dict) else None
        if isinstance(spec, dict) and self.key(spec) != key:
            raise ValueError(f"store.put({kind!r}, {key[:16]}…): meta['spec'] hashes to another key")
        try:
            meta_bytes = json.dumps(meta, indent=2, sort_keys=True).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"the metadata of store entry {kind}/{key[:16]}… is not storable as JSON: "
                                    f"{exc} (keys must be strings)") from None
        kind_dir = self.root / kind
        tmp = kind_dir / f".tmp-{key[:16]}-{_host_id()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            kind_dir.mkdir(parents=True, exist_ok=True)
            self._sweep(kind_dir)
            tmp.mkdir()
        except OSError as exc:
            raise StoreWriteError(self.root, f"{kind}/{key[:16]}…", exc) from exc
        try:
            self._write_entry(tmp, meta_bytes, tensors)
            return self._commit(kind, key, tmp)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreWriteError(self.root, f"{kind}/{key[:16]}…", exc) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @staticmethod
    def _write_entry(tmp: Path, meta_bytes: bytes, tensors: dict[str, dict[str, torch.Tensor]] | None) -> None:
        """Write an entry's files and its manifest into the (uncommitted) temporary folder ``tmp``."""
        digests: dict[str, str] = {}
        for name, state in (tensors or {}).items():
            save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp / f"{name}.safetensors"))
            digests[f"{name}.safetensors"] = _sha256((tmp / f"{name}.safetensors").read_bytes())
        (tmp / "meta.json").write_bytes(meta_bytes)
        digests["meta.json"] = _sha256(meta_bytes)
        manifest = {"format": MANIFEST_FORMAT, "files": digests}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")

    def _commit(self, kind: str, key: str, tmp: Path) -> Path:
        """Rename the complete temporary folder ``tmp`` into place as the entry ``kind/key`` (one step);
        if another process committed the key first, keep theirs and remove ``tmp``."""
        final = self.path(kind, key)
        if os.path.lexists(final) and self._check(kind, key):  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        try:
            os.replace(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not self._check(kind, key):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost the race to an identical entry: success
            return final
        return final

    # -- reading -----------------------------------------------------------------------------
    def _read(self, kind: str, key: str, name: str) -> bytes:
        entry = self.path(kind, key)
        try:
            return self._read_verified(entry, name)
        except CorruptEntryError as exc:
            if entry.exists():
                exc.quarantined = self.quarantine(kind, key, exc.reason)
            raise

    def meta(self, kind: str, key: str) -> dict[str, Any]:
        """An entry's JSON metadata, verified against its digest (CorruptEntryError, quarantined, if not)."""
        data = self._read(kind, key, "meta.json")
        try:  # (a digest that matches bad JSON or a foreign spec: the manifest was forged along with it)
            return self._parse_meta(self.path(kind, key), key, data)
        except CorruptEntryError as err:
            err.quarantined = self.quarantine(kind, key, err.reason)
            raise

    def tensors(self, kind: str, key: str, name: str) -> dict[str, torch.Tensor]:
        """An entry's tensor file ``name``, verified against its digest (CorruptEntryError, quarantined, if not)."""
        data = self._read(kind, key, f"{name}.safetensors")
        try:
            return load_safetensors(data)
        except Exception as exc:
            err = CorruptEntryError(self.path(kind, key), f"{name}.safetensors is unreadable ({exc})")
            err.quarantined = self.quarantine(kind, key, err.reason)
            raise err from None

    def has_tensors(self, kind: str, key: str, name: str) -> bool:
        """Whether an entry's manifest records a tensor file ``name`` (nothing is read or verified)."""
        try:
            return f"{name}.safetensors" in self._manifest(self.path(kind, key))
        except CorruptEntryError:
            return False


#: the kinds of entry only the core writes: a trained model, a method's returned scores, an analysis'
#: returned output. A plugin's return value is stored by the core after its checks, never by the plugin.
CORE_KINDS = frozenset({"models", "layer-scores", "analysis-outputs"})


class PluginStore:
    """The store as a plugin's context hands it over: every read of ``ArtefactStore``, and ``put`` for the
    plugin's own kinds (a map's runs, say), never for ``CORE_KINDS``. (Code in the same process can always
    reach the real store; this closes the public route by which a plugin could write, say, a built-in
    method's cached scores.)"""

    def __init__(self, store: ArtefactStore):
        self._store = store

    def put(self, kind: str, key: str, meta: dict[str, Any],
            tensors: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
        if kind in CORE_KINDS:
            raise PermissionError(f"a plugin may not write {kind!r} entries of the artefact store: the core "
                                  f"stores what a method or analysis returns (kinds a plugin may not write: "
                                  f"{', '.join(sorted(CORE_KINDS))})")
        return self._store.put(kind, key, meta, tensors)

    def quarantine(self, kind: str, key: str, reason: str) -> None:
        if kind in CORE_KINDS:
            raise PermissionError(f"a plugin may not quarantine {kind!r} entries of the artefact store")
        self._store.quarantine(kind, key, reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
