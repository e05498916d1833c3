"""The thread count a unit trains with is part of its keys (issue 33, item 4): the planner keys every unit
with the thread count it will run with, and the unit runs with exactly that count."""

from __future__ import annotations

import torch

from memlocbench.grid.config import GridConfig, SubGrid, load_grid_config
from memlocbench.grid.plan import build_plan
from memlocbench.store import ArtefactStore


def _plan(plugins, mirror, tmp_path, **top):
    cfg = GridConfig(grids=[SubGrid(tasks=["sst2"], methods=["layer-swapping"], train_size=48, max_length=24,
                                    epochs=1)], data_dir=mirror, cache_dir=tmp_path, **top)
    return cfg, build_plan(plugins, cfg, ArtefactStore(tmp_path))


def test_units_are_keyed_and_run_with_the_grids_thread_count(plugins, mirror, tmp_path):
    one_cfg, one = _plan(plugins, mirror, tmp_path, threads=1)
    two_cfg, two = _plan(plugins, mirror, tmp_path, threads=2)
    assert one_cfg.unit_threads() == 1 and two_cfg.unit_threads() == 2
    assert {u.payload["threads"] for u in one.units} == {1}
    train_one = [u for u in one.units if u.kind == "train"]
    train_two = [u for u in two.units if u.kind == "train"]
    assert train_one and all(a.key != b.key for a, b in zip(train_one, train_two))
    scores_one = [u.key for u in one.units if u.kind != "train"]
    scores_two = [u.key for u in two.units if u.kind != "train"]
    assert scores_one and not set(scores_one) & set(scores_two)


def test_default_threads_follow_the_executor(tmp_path):
    local = load_grid_config(None, {"tasks": ["sst2"], "cache_dir": tmp_path, "executor_options": {"workers": 1}})
    assert local.unit_threads() == torch.get_num_threads()
    ray = load_grid_config(None, {"tasks": ["sst2"], "cache_dir": tmp_path, "executor": "ray", "cpus_per_unit": 1.5})
    assert ray.unit_threads() == 1


def test_a_unit_runs_with_its_planned_thread_count(plugins, mirror, tmp_path, monkeypatch):
    from memlocbench.grid import units

    cfg, plan = _plan(plugins, mirror, tmp_path, threads=1 if torch.get_num_threads() != 1 else 2)
    seen = []

    def produce(prep, req, payload):
        seen.append(torch.get_num_threads())
        return payload["key"]

    train = next(u for u in plan.units if u.kind == "train")
    monkeypatch.setitem(units.UNIT_KINDS, "train", (units.UNIT_KINDS["train"][0], produce))
    monkeypatch.setattr(units, "_prepare", lambda req, payload: None)
    monkeypatch.setattr(units, "record_timing", lambda *a, **k: None, raising=False)
    before = torch.get_num_threads()
    units.run_unit(train.payload)
    assert seen == [cfg.unit_threads()] and torch.get_num_threads() == before


def test_a_binary_deep_or_special_grid_file_is_a_clear_error(tmp_path):
    import os

    import pytest

    from memlocbench.errors import InvalidInputError

    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000)
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for path, message in ((binary, "not UTF-8 text"), (deep, "grid file"), (fifo, "FIFO")):
        with pytest.raises(InvalidInputError, match=message):
            load_grid_config(path, {})
