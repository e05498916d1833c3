"""Options and value parsers shared by several commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from memlocbench.config.profiles import MAX_EPOCHS, MAX_SEED, RunConfig
from memlocbench.errors import InvalidInputError

class Folder(click.Path):
    """A folder option; an empty value is an error (``Path("")`` would silently mean the current folder)."""

    def __init__(self):
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("is empty; give a folder, or leave the option out", param, ctx)
        return super().convert(value, param, ctx)


FOLDER = Folder()


def run_options(f):
    """The task, model, data and training options shared by ``run`` and ``analyse``."""
    options = [
        click.option("--task", required=True, help="classification task, e.g. sst2"),
        click.option("--model", help="model adapter [default: the installed default model, marked in "
                                     "`memlocbench list models`]"),
        click.option("--profile", default="cpu", show_default=True,
                     help="named settings: cpu, cpu-fast (bf16 and other speed-ups) or paper"),
        click.option("--train-size", type=click.IntRange(2), help="class-stratified training subsample (before the noise)"),
        click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS),
                     help=f"train every model exactly N epochs, 1..{MAX_EPOCHS}, control models too (switches the "
                          "profile's train_until_fit and control epochs off)"),
        click.option("--learning-rate", "--lr", "learning_rate", type=float),
        click.option("--batch-size", type=click.IntRange(1)),
        click.option("--max-length", type=click.IntRange(8), help="maximum tokens per input (at most the model's positions)"),
        click.option("--data-seed", type=click.IntRange(0, MAX_SEED),
                     help="seed of subsample, noise and evaluation split (0..2**32-1)"),
        click.option("--seed", type=click.IntRange(0, MAX_SEED),
                     help="model seed (classifier init, batch order; 0..2**32-1); default: the profile's seeds"),
        click.option("--noise", "noise_fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     help="share of each class's labels to perturb, in (0, 1)"),
        click.option("--data-dir", type=FOLDER, envvar="MEMLOCBENCH_DATA_DIR",
                     help="local mirror <dir>/<task>/<split>.jsonl [env MEMLOCBENCH_DATA_DIR]; default: the hub"),
        click.option("--out", type=FOLDER, default=Path("results"),
                     show_default=True, help="where result JSON files go"),
        click.option("--cache-dir", type=FOLDER, envvar="MEMLOCBENCH_CACHE_DIR",
                     help="artefact store [env MEMLOCBENCH_CACHE_DIR]; default: the user cache directory"),
        click.option("--quiet", is_flag=True, help="no progress bars"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def run_config(plugins, profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed,
               noise_fraction) -> RunConfig:
    """The run config of a profile (with the plugins' parameters for it) and the values of ``run_options``
    over it (None: the profile's)."""
    from memlocbench.run.settings import profile_config

    return profile_config(
        profile, plugins=plugins,
        data={"train_size": train_size, "max_length": max_length, "seed": data_seed, "noise_fraction": noise_fraction},
        train={"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size},
    )


def leaderboard_options(f):
    """``--submissions``, ``--out`` and ``--figures``: where the leaderboard's sources and page live."""
    f = click.option("--figures", type=FOLDER, default=Path("leaderboard/figures"), show_default=True,
                     help="folder for the PNG figures")(f)
    f = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("leaderboard/README.md"),
                     show_default=True, help="the markdown page")(f)
    f = click.option("--submissions", type=FOLDER, default=Path("leaderboard/submissions"), show_default=True,
                     help="folder of submissions (one sub-folder each)")(f)
    return f


def csv_list(value: str | None, cast=str) -> list | str | None:
    """A comma-separated flag value as a list (each item through ``cast``), 'all', or None if not given."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if items == ["all"]:
        return "all"
    try:
        return [cast(v) for v in items]
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got {value!r}") from None


def _split(item: str) -> tuple[str, str] | None:
    """(key, value) of a KEY=VALUE item, or None when it has no '=' or no key."""
    key, sep, value = item.partition("=")
    return (key.strip(), value) if sep and key.strip() else None


def _json_or_none(value: str) -> tuple[bool, Any]:
    """(parsed, the value read as JSON)."""
    try:
        return True, json.loads(value)
    except json.JSONDecodeError:
        return False, None


def json_params(items: tuple[str, ...], flag: str, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with KEY=VALUE items whose VALUE must be JSON (``--param``)."""
    given = dict(base)
    for item in items:
        pair = _split(item)
        parsed, value = _json_or_none(pair[1]) if pair else (False, None)
        if not parsed:
            raise InvalidInputError(f"{flag} {item!r}: expected KEY=VALUE with a JSON value, e.g. runs=3")
        given[pair[0]] = value
    return given


def key_values(items: tuple[str, ...], flag: str, example: str) -> dict[str, Any]:
    """KEY=VALUE items as a dict, VALUE read as JSON where it parses, else kept as a string; a later
    item overrides an earlier one with the same KEY."""
    given: dict[str, Any] = {}
    for item in items:
        pair = _split(item)
        if pair is None:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. {example}", param_hint=flag)
        parsed, value = _json_or_none(pair[1])
        given[pair[0]] = value if parsed else pair[1]
    return given
