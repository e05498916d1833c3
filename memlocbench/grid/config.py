"""The grid's settings, from command-line flags or a TOML file with the same keys.

A TOML file holds top-level keys (defaults for the whole grid) and, optionally, ``[[grid]]``
tables: sub-grids that override any of the keys, e.g. the control setup on one task with its own
training size. Flags given next to a file override the keys of every sub-grid. How to run (the
executor and its options, e.g. ``[executor_options]`` with ``max_retries = 3``, the store, the device)
is set at the top level only; ``--executor-option`` flags add to (and override) the file's options.

Every value is checked here, before any work: seeds in 0..2**32-1 and at least one where seeds are
given, CPUs per unit a finite number Ray can schedule, retries bounded. Paths are made absolute here,
against the folder the grid is started from, so that workers in other folders (Ray's) read and write
the same store, mirror and result folder.
"""

from __future__ import annotations

import math

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memlocbench.errors import InvalidInputError, NotARegularFileError
from memlocbench.files import read_regular_file
from memlocbench.config.profiles import MAX_SEED, RunConfig
from memlocbench.run.settings import profile_config

#: flat keys (as the flags of ``memlocbench run``) -> (section of RunConfig, field)
RUN_KEYS = {
    "train_size": ("data", "train_size"), "max_length": ("data", "max_length"), "data_seed": ("data", "seed"),
    "noise": ("data", "noise_fraction"), "epochs": ("train", "epochs"), "learning_rate": ("train", "learning_rate"),
    "batch_size": ("train", "batch_size"),
}


def default_local_workers() -> int:
    """How many units the local executor runs at once by default: two where the machine has two or more
    cores. On a 2-core machine, two units at once with 1 torch thread each were 12% faster than one at a
    time with 2 threads at the cpu grid's unit size (docs/reports/2026-12-07-grid-threads.md,
    benchmarks/test_grid_threads.py); more workers were not measured."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


class SubGrid(BaseModel):
    """One block of the grid: every task x model x seed, each with its trainings and methods."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[str] | Literal["all"] = Field(description="task names, or 'all' registered tasks")
    models: list[str] | None = Field(None, description="model adapters; default: the installed default model "
                                                     "(ModelInfo.default)")
    methods: list[str] | Literal["all"] = "all"
    analyses: list[str] = Field([], description="analyses (memlocbench list analyses) on each task x model, over "
                                                "the block's seeds, as `memlocbench analyse` runs them")
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] | None = Field(
        None, description=f"model seeds, each in 0..{MAX_SEED}; default (left out): the profile's")
    standard: bool = Field(True, description="the memorising model and its clean twin")
    control: bool = Field(False, description="also the control setup (control models and their clean twins)")
    control_track: Literal["pair", "single", "planted", "routed-pair", "routed-single", "planted-routed"] = Field(
        "pair", description="the control track: the paper's two-layer pairs, one layer each, planted neurons, or "
                            "their gradient-routed versions (docs/control.md)")
    profile: str = "cpu"
    train_size: int | None = None
    max_length: int | None = None
    data_seed: int | None = None
    noise: float | None = None
    epochs: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None

    @field_validator("seeds")
    @classmethod
    def _some_seeds(cls, seeds: list[int] | None) -> list[int] | None:
        if seeds is not None and not seeds:
            raise ValueError("no seeds given: name at least one (e.g. --seeds 1,2,3), or leave seeds out for "
                             "the profile's")
        return seeds

    def run_config(self, plugins) -> RunConfig:
        """The block's run config: its profile, with the plugins' parameters for it, and its keys over it."""
        sections: dict[str, dict[str, Any]] = {"data": {}, "train": {}}
        for flat, (section, name) in RUN_KEYS.items():
            sections[section][name] = getattr(self, flat)
        return profile_config(self.profile, plugins=plugins, **sections)


#: retries of a unit whose worker died: a bound, so that a typo cannot retry for ever (Ray's counter is an int)
MAX_RETRIES = 100
#: Ray schedules fractions of a CPU down to 0.0001
MIN_CPUS_PER_UNIT = 0.0001
MAX_CPUS_PER_UNIT = 4096


class GridConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grids: list[SubGrid] = Field(min_length=1)
    data_dir: Path | None = None
    out: Path = Path("results")
    cache_dir: Path | None = None
    executor: str = "local"
    executor_options: dict[str, Any] = Field({}, description="the executor's options (memlocbench.grid.executors: "
                                                             "checked against its options_schema)")
    ray_address: str | None = Field(None, description="Ray: the cluster to join (the ray executor's "
                                                      "option ray_address)")
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    max_retries: int | None = Field(None, ge=0, le=MAX_RETRIES,
                                    description="Ray: how often a unit whose worker died is retried "
                                                "(the ray executor's option max_retries; default 2)")
    cpus_per_unit: float = Field(1, ge=MIN_CPUS_PER_UNIT, le=MAX_CPUS_PER_UNIT, allow_inf_nan=False,
                                 description=f"Ray: CPUs each unit asks for, {MIN_CPUS_PER_UNIT:g} to "
                                             f"{MAX_CPUS_PER_UNIT} (at most what one node has)")

    threads: int | None = Field(None, ge=1, le=4096,
                                description="torch threads each unit trains and computes with on a CPU (part of "
                                            "every key: float sums depend on it); default: cpus_per_unit rounded "
                                            "down (at least 1) for an executor that runs units in workers; for the "
                                            "local executor, this machine's torch default divided among its "
                                            "workers (with workers = 1, the thread count of `memlocbench run`)")

    def unit_threads(self) -> int:
        """The torch thread count every unit runs with (``threads``, or its default)."""
        import torch

        if self.threads is not None:
            return self.threads
        if self.executor == "local":  # the torch default shared among the local workers
            workers = self.executor_options.get("workers", default_local_workers())
            workers = workers if isinstance(workers, int) and workers >= 1 else 1
            return max(1, torch.get_num_threads() // workers)
        return max(1, math.floor(self.cpus_per_unit))

    @field_validator("data_dir", "out", "cache_dir")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        """Relative paths are resolved against the current folder now, not by each worker in its own."""
        return None if path is None else Path(os.path.abspath(path.expanduser()))

    def given_executor_options(self) -> dict[str, Any]:
        """The executor options as given: ``executor_options`` and the shorthands ``ray_address`` and
        ``max_retries`` where set (an option given both ways must have one value)."""
        options = dict(self.executor_options)
        for name in EXECUTOR_SHORTHANDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name in options and options[name] != value:
                raise InvalidInputError(f"executor option {name} given twice: {value!r} ({name}) and "
                                        f"{options[name]!r} (executor_options)")
            options[name] = value
        return options


#: GridConfig keys that are shorthands for executor options of the same name (the ray executor's)
EXECUTOR_SHORTHANDS = ("ray_address", "max_retries")


#: keys of GridConfig (how and where to run) as opposed to SubGrid keys (what to run)
RUN_LEVEL = set(GridConfig.model_fields) - {"grids"}


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
                     for e in exc.errors())


def checked(cfg: GridConfig) -> GridConfig:
    """``cfg`` validated again: a config changed with ``model_copy(update=...)`` (which skips pydantic's
    checks, e.g. seeds -1 or 2**32 in a sub-grid) fails here as a file or flag would."""
    try:
        return GridConfig.model_validate(cfg.model_dump())
    except ValidationError as exc:
        raise InvalidInputError(f"invalid grid settings: {_problems(exc)}") from None


#: a grid file lists settings; anything larger is not one
MAX_GRID_FILE_BYTES = 1024 * 1024


def load_grid_config(path: Path | None, overrides: dict[str, Any]) -> GridConfig:
    """A grid from a TOML file (or none) with ``overrides`` (flag values; None = not given)."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(read_regular_file(path, MAX_GRID_FILE_BYTES).decode("utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(f"grid file {path} not found") from None
        except NotARegularFileError as exc:
            raise InvalidInputError(f"grid file: {exc}") from None
        except UnicodeDecodeError:
            raise InvalidInputError(f"grid file {path} is not UTF-8 text (binary data?); a grid file is TOML") from None
        except RecursionError:
            raise InvalidInputError(f"grid file {path} is nested too deeply to be a grid file") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"grid file {path} is not valid TOML: {exc}") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    blocks = raw.pop("grid", None) or [{}]
    if not isinstance(blocks, list):
        raise InvalidInputError("'grid' must be an array of tables ([[grid]])")
    run_level = {k: raw.pop(k) for k in list(raw) if k in RUN_LEVEL}
    flags = {k: v for k, v in given.items() if k in RUN_LEVEL}
    if isinstance(run_level.get("executor_options"), dict) and "executor_options" in flags:
        flags["executor_options"] = {**run_level["executor_options"], **flags["executor_options"]}
    run_level.update(flags)
    block_over = {k: v for k, v in given.items() if k not in RUN_LEVEL}
    merged = [{**raw, **block, **block_over} for block in blocks]
    if any("tasks" not in b for b in merged):
        raise InvalidInputError("the grid needs tasks: --tasks sst2,mrpc or 'all', or `tasks = [...]` in the file")
    try:
        return GridConfig(grids=[SubGrid(**b) for b in merged], **run_level)
    except ValidationError as exc:
        where = f" in {path}" if path else ""
        raise InvalidInputError(f"invalid grid settings{where}: {_problems(exc)}") from None
