"""The grid's settings, from command-line flags or a TOML file with the same keys.

A TOML file holds top-level keys (defaults for the whole grid) and, optionally, ``[[grid]]``
tables: sub-grids that override any of the keys, e.g. the control setup on one task with its own
training size. Flags given next to a file override the keys of every sub-grid. How to run (the
executor and its options, e.g. ``[executor_options]`` with ``max_retries = 3``, the store, the device)
is set at the top level only; ``--executor-option`` flags add to (and override) the file's options.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memlocbench.errors import InvalidInputError
from memlocbench.config.profiles import RunConfig
from memlocbench.run.settings import profile_config

#: flat keys (as the flags of ``memlocbench run``) -> (section of RunConfig, field)
RUN_KEYS = {
    "train_size": ("data", "train_size"), "max_length": ("data", "max_length"), "data_seed": ("data", "seed"),
    "noise": ("data", "noise_fraction"), "epochs": ("train", "epochs"), "learning_rate": ("train", "learning_rate"),
    "batch_size": ("train", "batch_size"),
}


class SubGrid(BaseModel):
    """One block of the grid: every task x model x seed, each with its trainings and methods."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[str] | Literal["all"] = Field(description="task names, or 'all' registered tasks")
    models: list[str] | None = Field(None, description="model adapters; default: the installed default model "
                                                     "(ModelInfo.default)")
    methods: list[str] | Literal["all"] = "all"
    analyses: list[str] = Field([], description="analyses (memlocbench list analyses) on each task x model, over "
                                                "the block's seeds, as `memlocbench analyse` runs them")
    seeds: list[int] | None = Field(None, description="model seeds; default: the profile's")
    standard: bool = Field(True, description="the memorising model and its clean twin")
    control: bool = Field(False, description="also the control setup (control models and their clean twins)")
    control_track: Literal["pair", "single"] = Field("pair", description="control placements: the paper's two-layer "
                                                                         "pairs, or one layer each")
    profile: str = "cpu"
    train_size: int | None = None
    max_length: int | None = None
    data_seed: int | None = None
    noise: float | None = None
    epochs: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None

    def run_config(self, plugins) -> RunConfig:
        """The block's run config: its profile, with the plugins' parameters for it, and its keys over it."""
        sections: dict[str, dict[str, Any]] = {"data": {}, "train": {}}
        for flat, (section, name) in RUN_KEYS.items():
            sections[section][name] = getattr(self, flat)
        return profile_config(self.profile, plugins=plugins, **sections)


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
    max_retries: int | None = Field(None, ge=0, description="Ray: how often a unit whose worker died is retried "
                                                            "(the ray executor's option max_retries; default 2)")
    cpus_per_unit: float = Field(1, gt=0, description="Ray: CPUs each unit asks for")

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


def load_grid_config(path: Path | None, overrides: dict[str, Any]) -> GridConfig:
    """A grid from a TOML file (or none) with ``overrides`` (flag values; None = not given)."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(f"grid file {path} not found") from None
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
