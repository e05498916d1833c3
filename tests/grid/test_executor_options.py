"""`memlocbench grid --executor-option KEY=VALUE`: an executor declares the options it takes
(``options_schema``); unknown keys and bad values fail before any work, naming the valid options; the
checked values (defaults filled in) reach ``execute``; ``--ray-address``/``--max-retries`` stay
shorthands of the ray executor's options. The runs with real executors are in test_grid.py."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict

from memlocbench import hookimpl
from memlocbench.cli import main
from memlocbench.cli.options import key_values
from memlocbench.errors import InvalidInputError
from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import run_grid
from memlocbench.grid.executors import LocalExecutor, RayExecutor, default_local_workers, executor_options
from memlocbench.registry import Provider, load_plugins


def test_values_are_json_where_they_parse_else_strings():
    got = key_values(("max_retries=3", "ray_address=auto", "host=10.0.0.1:6379", "x=null", "f=0.5", "b=true",
                      "l=[1, 2]", "s=\"quoted\"", "empty=", "max_retries=4"), "--executor-option", "k=v")
    assert got == {"max_retries": 4, "ray_address": "auto", "host": "10.0.0.1:6379", "x": None, "f": 0.5,
                   "b": True, "l": [1, 2], "s": "quoted", "empty": ""}  # a later KEY overrides an earlier one
    for bad in ("novalue", "=3", " =3"):
        with pytest.raises(click.BadParameter, match="expected KEY=VALUE"):
            key_values((bad,), "--executor-option", "k=v")


def test_built_in_executors_check_their_options():
    workers = default_local_workers()
    assert executor_options(LocalExecutor(), {}) == {"debug": False, "workers": workers}
    assert executor_options(LocalExecutor(), {"debug": True}) == {"debug": True, "workers": workers}
    ray_defaults = {"ray_address": None, "max_retries": 2, "connect_timeout_s": 60.0, "stall_timeout_s": 86400.0}
    assert executor_options(RayExecutor(), {}) == ray_defaults
    assert executor_options(RayExecutor(), {"max_retries": 0, "ray_address": "auto"}) == \
        {**ray_defaults, "ray_address": "auto", "max_retries": 0}
    with pytest.raises(InvalidInputError, match=r"executor 'ray' has no option 'retries'; valid: connect_timeout_s, "
                                                r"max_retries, ray_address, stall_timeout_s"):
        executor_options(RayExecutor(), {"retries": 3})
    with pytest.raises(InvalidInputError, match=r"executor 'local' has no option 'max_retries'; valid: debug"):
        executor_options(LocalExecutor(), {"max_retries": 3})
    with pytest.raises(InvalidInputError, match=r"executor 'ray': invalid option: max_retries: .*-1"):
        executor_options(RayExecutor(), {"max_retries": -1})


def test_an_executor_without_a_schema_takes_no_options():
    class Bare:
        name, description = "bare", "declares no options"

    assert executor_options(Bare(), {}) == {}
    with pytest.raises(InvalidInputError, match=r"executor 'bare' has no option 'a', 'b'; valid: none"):
        executor_options(Bare(), {"b": 1, "a": 2})


def test_grid_file_options_merge_with_flags_and_shorthands(tmp_path):
    grid = tmp_path / "g.toml"
    grid.write_text('tasks = ["sst2"]\nexecutor = "ray"\n\n[executor_options]\nmax_retries = 5\n'
                    'ray_address = "auto"\n')
    cfg = load_grid_config(grid, {"executor_options": {"max_retries": 1}})
    assert cfg.given_executor_options() == {"max_retries": 1, "ray_address": "auto"}  # the flag wins
    assert load_grid_config(grid, {}).given_executor_options() == {"max_retries": 5, "ray_address": "auto"}
    short = load_grid_config(None, {"tasks": ["sst2"], "ray_address": "HOST:6379", "max_retries": 0})
    assert short.given_executor_options() == {"ray_address": "HOST:6379", "max_retries": 0}
    assert load_grid_config(None, {"tasks": ["sst2"]}).given_executor_options() == {}
    both = load_grid_config(None, {"tasks": ["sst2"], "max_retries": 3, "executor_options": {"max_retries": 4}})
    with pytest.raises(InvalidInputError, match="max_retries given twice: 3 .* 4"):
        both.given_executor_options()
    grid.write_text('tasks = ["sst2"]\n[[grid]]\nexecutor_options = {debug = true}\n')
    with pytest.raises(InvalidInputError, match="executor_options"):  # how to run: top level only
        load_grid_config(grid, {})


@pytest.mark.parametrize("args,expected", [
    (["--executor-option", "retries=3"], ["has no option 'retries'", "valid: debug"]),
    (["--executor", "ray", "--executor-option", "retries=3"], ["has no option 'retries'",
                                                                "valid: connect_timeout_s, max_retries, ray_address"]),
    (["--executor", "ray", "--executor-option", "max_retries=-1"], ["max_retries", "greater than or equal to 0"]),
    (["--executor", "ray", "--executor-option", "max_retries=two"], ["max_retries", "valid integer", "'two'"]),
    (["--max-retries", "3"], ["executor 'local' has no option 'max_retries'; valid: debug"]),
    (["--executor-option", "debug"], ["--executor-option", "expected KEY=VALUE"]),
])
@pytest.mark.parametrize("dry_run", [False, True])
def test_bad_executor_options_fail_before_any_work(tmp_path, args, expected, dry_run):
    store = tmp_path / "store"
    res = CliRunner().invoke(main, ["grid", "--tasks", "sst2", "--cache-dir", str(store), "--out",
                                    str(tmp_path / "out"), *args] + (["--dry-run"] if dry_run else []))
    assert res.exit_code == 2, res.output
    for text in expected:
        assert text in res.output
    assert not store.exists() and not (tmp_path / "out").exists()


def test_a_plugin_executor_gets_its_checked_options(mirror, tmp_path):
    """A plugin executor's schema: its options arrive checked, with their defaults, beside the driver's."""
    seen: list[dict] = []

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        partition: str = "short"
        nodes: int = 1

    class Recorder:
        name, description, options_schema = "recorder", "records its options", Options

        def execute(self, units, options, report):
            seen.append(options)
            for unit in units:
                report({"id": unit["id"], "status": "failed", "seconds": 0.0, "reason": "recorded only"})

    class Plugin:
        @hookimpl
        def register_executors(self, register):
            register(Recorder())

    plugins = load_plugins(extra=[(Plugin(), Provider("recorder-package", "1.0"))])
    cfg = load_grid_config(None, {"tasks": ["sst2"], "methods": ["layer-swapping"], "seeds": [1], "train_size": 32,
                                  "max_length": 16, "epochs": 1, "data_dir": mirror, "cache_dir": tmp_path / "s",
                                  "out": tmp_path / "o", "executor": "recorder",
                                  "executor_options": {"nodes": 4}})
    log: list[str] = []
    report = run_grid(plugins, cfg, log=log.append, progress=False)
    assert report.count("failed") == 3  # memorising, clean, layer scores
    (options,) = seen
    assert options["log"] == log.append and options["progress"] is False
    assert {k: v for k, v in options.items() if k not in ("log", "progress")} == {"partition": "short", "nodes": 4}
    bad = cfg.model_copy(update={"executor_options": {"node": 4}})
    with pytest.raises(InvalidInputError, match="has no option 'node'; valid: nodes, partition"):
        run_grid(plugins, bad, log=log.append, progress=False)
