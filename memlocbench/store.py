"""The artefact store: trained weights (safetensors) and JSON metadata under content-hashed keys.

Layout: ``<root>/<kind>/<key>/`` holding ``meta.json`` and any ``<name>.safetensors``. The key is
the sha256 of everything that determines the artefact, so an identical request finds it and
recomputes nothing. Every entry is written into a temporary sibling folder and renamed into place
in one step: an interrupted write leaves no entry (only a ``.tmp-*`` folder, swept on next use).
Nothing is ever unpickled: tensors are safetensors, metadata is JSON.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import torch
from platformdirs import user_cache_dir
from safetensors.torch import load_file, save_file

from memlocbench.profiles import config_hash

CACHE_ENV = "MEMLOCBENCH_CACHE_DIR"
_STALE_TMP_SECONDS = 6 * 3600


def default_cache_dir() -> Path:
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


class ArtefactStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    @staticmethod
    def key(spec: dict[str, Any]) -> str:
        return config_hash(spec)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def has(self, kind: str, key: str) -> bool:
        return (self.path(kind, key) / "meta.json").is_file()

    def _sweep(self, kind_dir: Path) -> None:
        now = time.time()
        for tmp in kind_dir.glob(".tmp-*"):
            try:
                if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                    shutil.rmtree(tmp, ignore_errors=True)
            except FileNotFoundError:
                pass

    def put(self, kind: str, key: str, meta: dict[str, Any],
            tensors: dict[str, dict[str, torch.Tensor]] | None = None,
            _before_commit: Callable[[], None] | None = None) -> Path:
        """Store ``meta`` (JSON) and named tensor files atomically; returns the entry's folder."""
        kind_dir = self.root / kind
        kind_dir.mkdir(parents=True, exist_ok=True)
        self._sweep(kind_dir)
        final = kind_dir / key
        tmp = kind_dir / f".tmp-{key[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            for name, state in (tensors or {}).items():
                save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(tmp / f"{name}.safetensors"))
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
            if _before_commit is not None:  # test hook: simulate an interruption before the rename
                _before_commit()
            if final.exists():  # another process finished first: keep theirs
                shutil.rmtree(tmp)
            else:
                try:
                    os.replace(tmp, final)
                except OSError as exc:  # lost the race: someone committed between the check and the rename
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not (final / "meta.json").is_file():
                        raise
                    shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def meta(self, kind: str, key: str) -> dict[str, Any]:
        return json.loads((self.path(kind, key) / "meta.json").read_text(encoding="utf-8"))

    def tensors(self, kind: str, key: str, name: str) -> dict[str, torch.Tensor]:
        return load_file(str(self.path(kind, key) / f"{name}.safetensors"))

    def has_tensors(self, kind: str, key: str, name: str) -> bool:
        return (self.path(kind, key) / f"{name}.safetensors").is_file()
