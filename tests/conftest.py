from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import torch

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
    from memlocbench.registry import load_plugins

    return load_plugins()


@pytest.fixture(scope="session")
def session_store(tmp_path_factory):
    """One artefact store for the whole test session, so tests that need the same small trained
    models train them once."""
    from memlocbench.store import ArtefactStore

    return ArtefactStore(tmp_path_factory.mktemp("store"))


# Small settings under which every end-to-end test trains in seconds on 2 cores.
TINY = {"data": {"train_size": 64, "max_length": 32}, "train": {"epochs": 2, "batch_size": 16}}


def minilm_pair(plugins, mirror: Path, n_rows: int, max_length: int, scale: float, seed: int,
                embeddings_too: bool):
    """MiniLM-L6, the first ``n_rows`` SST-2 training rows encoded, their labels, a pretrained model
    with a seeded head, and a second model whose weights are that plus seeded noise of ``scale``
    (in every parameter, or every non-embedding one): two genuinely different models for
    comparing fast and reference implementations of a method."""
    import json

    import torch

    from memlocbench.data.encoding import encode

    adapter = plugins.models.get("minilm-l6")
    tok = adapter.load_tokenizer()
    rows = [json.loads(line) for line in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:n_rows]]
    enc = encode(tok, [r["sentence"] for r in rows], max_length)
    torch.manual_seed(0)
    base = adapter.load_model(2).eval()
    other = adapter.load_model(2).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in other.named_parameters():
            if embeddings_too or adapter.parameter_group(n) != "embeddings":
                p.add_(scale * torch.randn(p.shape, generator=gen))
    return adapter, enc, [r["label"] for r in rows], base, other


def small_sst2_models(plugins, mirror: Path, store_dir: Path, batch_size: int, n_validation: int):
    """A 32-row SST-2 noisy dataset (max length 32, 1 epoch) encoded for MiniLM-L6, ``n_validation``
    validation rows, and its ``TrainedModels`` on a store in ``store_dir``: the small setting of the
    training-loop tests. Returns (adapter, dataset, train encoding, validation encoding, config, models)."""
    from memlocbench.data.encoding import encode
    from memlocbench.data.noisy_dataset import build_noisy_dataset
    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore
    from memlocbench.training.trained_models import TrainedModels

    adapter = plugins.models.get("minilm-l6")
    tok = adapter.load_tokenizer()
    cfg = profile_config("cpu", data={"train_size": 32, "max_length": 32}, train={"epochs": 1, "batch_size": batch_size})
    data = build_noisy_dataset(plugins.tasks.get("sst2"), cfg.data, mirror, tok.sep_token)
    enc = encode(tok, data.train_texts, 32)
    val = encode(tok, data.validation.texts[:n_validation], 32)
    data.validation = data.validation.select(list(range(n_validation)))
    models = TrainedModels(ArtefactStore(store_dir), adapter, "minilm-l6", "sst2", 1, data, enc, val, cfg,
                           progress=False)
    return adapter, data, enc, val, cfg, models


@contextlib.contextmanager
def single_thread():
    """One intra-op thread inside the block: tiny models gain nothing from more, and on a busy 2-core
    machine spinning threads slow them down many times over."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# The leaderboard with the installed plugins' declarations (suites, tie rules, measures), as the CLI renders it.
def installed_spec():
    from memlocbench.leaderboard import LeaderboardSpec
    from memlocbench.registry import load_plugins

    return LeaderboardSpec.from_plugins(load_plugins())


def installed_render(collected, **kwargs):
    from memlocbench.leaderboard import render

    return render(collected, spec=installed_spec(), **kwargs)


def installed_model_tables(entries):
    from memlocbench.leaderboard import model_tables

    return model_tables(entries, installed_spec().paper_methods)


def installed_analysis_figures(collected, tables, out_dir):
    from memlocbench.leaderboard import write_analysis_figures

    return write_analysis_figures(collected, tables, out_dir, installed_spec())
