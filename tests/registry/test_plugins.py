"""Plugin loading: hooks, entry points, broken plugins, name errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from memlocbench import hookimpl
from memlocbench.cli import main
from memlocbench.errors import UnknownNameError
from memlocbench.registry import PluginWarning, Provider, load_plugins
from memlocbench.contracts.protocols import LayerScores, MethodInfo


class _Uniform:
    info = MethodInfo(name="uniform-test", description="every layer the same", version=1)

    def localise(self, ctx):
        return LayerScores(raw=[1.0] * ctx.num_layers)


class _ThrowawayPlugin:
    @hookimpl
    def register_methods(self, register):
        register(_Uniform())


def test_builtins_register_through_entry_points(plugins):
    assert "sst2" in plugins.tasks.names()
    assert {"minilm-l6", "bert-base-cased"} <= set(plugins.models.names())
    assert "layer-swapping" in plugins.methods.names()
    assert plugins.methods.provider("layer-swapping").package == "memlocbench"


def test_throwaway_plugin_is_registered():
    p = load_plugins(extra=[(_ThrowawayPlugin(), Provider("throwaway", "9.9"))])
    assert p.methods.get("uniform-test").info.description == "every layer the same"
    assert p.methods.provider("uniform-test") == Provider("throwaway", "9.9")
    assert "layer-swapping" in p.methods.names()  # built-ins still there


def test_raising_hook_and_invalid_object_are_skipped_with_warnings():
    class Raises:
        @hookimpl
        def register_tasks(self, register):
            raise RuntimeError("boom")

    class Invalid:
        @hookimpl
        def register_methods(self, register):
            register(object())

    with pytest.warns(PluginWarning) as rec:
        p = load_plugins(extra=[(Raises(), Provider("raiser", "1")), (Invalid(), Provider("invalid", "2"))])
    messages = " | ".join(str(w.message) for w in rec)
    assert "raiser 1" in messages and "boom" in messages
    assert "invalid 2" in messages and "LocalisationMethod" in messages
    assert "sst2" in p.tasks.names() and "layer-swapping" in p.methods.names()


def test_unknown_name_suggests_the_closest(plugins):
    with pytest.raises(UnknownNameError) as exc:
        plugins.methods.get("layer-swaping")
    assert exc.value.suggestion == "layer-swapping"
    assert ("Valid methods: activations, gradient-attribution, hard-concrete, integrated-gradients, layer-retraining, "
            "layer-swapping, probing, random, random-neurons, slimming, weight-delta, weight-delta-neurons, "
            "weight-delta-neurons-pretrained, weight-delta-pretrained, zero-out.") in str(exc.value)


@pytest.mark.parametrize("args,suggestion", [
    (["--method", "layer-swaping", "--task", "sst2"], "layer-swapping"),
    (["--method", "layer-swapping", "--task", "sst-2"], "sst2"),
    (["--method", "layer-swapping", "--task", "sst2", "--model", "minilm-l7"], "minilm-l6"),
])
def test_cli_misspelt_name_exits_2_with_suggestion(args, suggestion):
    res = CliRunner().invoke(main, ["run", *args])
    assert res.exit_code == 2
    assert f"Did you mean {suggestion!r}?" in res.output


def _fake_distribution(root, dist: str, entry_points: str) -> None:
    info = root / f"{dist}-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_broken_entry_point_leaves_the_cli_working(tmp_path):
    _fake_distribution(tmp_path, "broken_pkg", "[memlocbench]\nbroken = no_such_module_for_memlocbench\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "memlocbench.cli", "list", "methods"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "broken_pkg 0.3" in out.stderr and "ModuleNotFoundError" in out.stderr
    assert "layer-swapping" in out.stdout
