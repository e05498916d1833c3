from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mirror_dir() -> Path:
    """The local data mirror: $MEMLOCBENCH_DATA_DIR, else ../shared/data beside the repo."""
    env = os.environ.get("MEMLOCBENCH_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_dir()
    if not (path / "sst2" / "train.jsonl").is_file():
        pytest.skip(f"local data mirror not found at {path}")
    return path


@pytest.fixture(scope="session")
def plugins():
    from memlocbench.plugins import load_plugins

    return load_plugins()


@pytest.fixture(scope="session")
def session_store(tmp_path_factory):
    """One artefact store for the whole test session, so tests that need the same small trained
    models train them once."""
    from memlocbench.store import ArtefactStore

    return ArtefactStore(tmp_path_factory.mktemp("store"))


# Small settings under which every end-to-end test trains in seconds on 2 cores.
TINY = {"data": {"train_size": 64, "max_length": 32}, "train": {"epochs": 2, "batch_size": 16}}
