"""Edges a plugin author met writing plugins from the docs alone (issue 32's check): a bad checkpoint
name is the caller's error and leaves the stored model alone; a plugin without `defaults` takes no
parameters; check_method runs the method's own check_params first."""

from __future__ import annotations

import pytest

from memlocbench.api import LayerScores, MethodInfo
from memlocbench.errors import InvalidInputError
from memlocbench.registry import load_plugins
from memlocbench.run.method_run import check_plugin_params


class _NoDefaults:
    info = MethodInfo(name="no-defaults", description="test: a method without parameters")

    def localise(self, ctx):
        return LayerScores(raw=[1.0] * ctx.num_layers)


class _Checked:
    info = MethodInfo(name="checked", description="test: a method whose check rejects a parameter")
    defaults = {"steps": 1}

    @staticmethod
    def check_params(params, registered):
        return [] if params["steps"] >= 1 else [f"steps must be >= 1, got {params['steps']}"]

    def localise(self, ctx):
        return LayerScores(raw=[1.0] * ctx.num_layers)


def test_a_plugin_without_defaults_takes_no_parameters():
    plugins = load_plugins()
    assert check_plugin_params(plugins, "method", _NoDefaults(), {}) is None
    with pytest.raises(InvalidInputError, match="'no-defaults' takes no parameters .* got bogus"):
        check_plugin_params(plugins, "method", _NoDefaults(), {"bogus": 1})


def test_check_method_runs_check_params_first(plugins, tmp_path):
    from memlocbench.testing import check_method, tiny_method_context

    ctx = tiny_method_context(plugins.models.get("minilm-l6"), tmp_path)
    with pytest.raises(AssertionError, match="'checked': its check_params rejects the parameters: steps must be"):
        check_method(_Checked(), ctx, params={"steps": 0})
    check_method(_Checked(), ctx, params={"steps": 2})


def test_a_bad_checkpoint_name_leaves_the_stored_model_alone(plugins, tmp_path):
    from memlocbench.testing import tiny_method_context

    ctx = tiny_method_context(plugins.models.get("minilm-l6"), tmp_path)
    ctx.models.load("memorising")
    with pytest.raises(InvalidInputError, match="unknown checkpoint 'nope'; valid: final, first_fit"):
        ctx.models.load("memorising", checkpoint="nope")
    assert not (ctx.models.store.root / "quarantine").exists() or not any((ctx.models.store.root / "quarantine").iterdir())
    ctx.models.load("memorising")  # still served from the store


def test_a_plugin_cannot_write_the_cores_store_entries(plugins, tmp_path):
    """D7 (issue 33): a plugin's context hands it a store that reads everything but writes only the plugin's
    own kinds: trained models, cached method scores and analysis outputs are written by the core alone."""
    from memlocbench.store import CORE_KINDS
    from memlocbench.testing import tiny_method_context

    ctx = tiny_method_context(plugins.models.get("minilm-l6"), tmp_path)
    key = ctx.models.key("memorising")
    assert ctx.models.store.has("models", ctx.models.ensure("memorising"))  # reads pass through
    for kind in sorted(CORE_KINDS):
        with pytest.raises(PermissionError, match=f"may not write '{kind}'"):
            ctx.models.store.put(kind, key, {"raw": [6.0]})
        with pytest.raises(PermissionError, match="may not quarantine"):
            ctx.models.store.quarantine(kind, key, "forged")
    ctx.models.store.put("my-plugin-runs", "k" * 64, {"note": "a plugin's own kind"})
    assert ctx.models.store.has("my-plugin-runs", "k" * 64)
    # for_setup hands back a wrapped object too
    assert type(ctx.models.for_setup({}).store).__name__ == "PluginStore"
