"""A settings profile's method and analysis parameters come from the plugins (``profile_params``), so a
third-party method sizes itself for the ``cpu`` profile as a built-in does; the model used when none is
named is the one whose ``ModelInfo.default`` is set, not a name the core knows."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from memlocbench.api import LayerScores, MethodInfo, hookimpl
from memlocbench.config.profiles import build_config
from memlocbench.errors import InvalidInputError
from memlocbench.registry import Provider, default_model, load_plugins
from memlocbench.run.settings import plugin_params, profile_config


class _Method:
    info = MethodInfo(name="tp-method", description="a third-party method with cpu-profile parameters")
    defaults = {"epochs": 10, "width": 3}
    profile_params = {"cpu": {"epochs": 2}, "paper": {"epochs": 7}}

    def localise(self, ctx):
        return LayerScores(raw=[1.0] * ctx.num_layers)


class _Package:
    def __init__(self, methods=(), models=()):
        self.methods, self.models = methods, models

    @hookimpl
    def register_methods(self, register):
        for m in self.methods:
            register(m)

    @hookimpl
    def register_models(self, register):
        for m in self.models:
            register(m)


def _with(**objects):
    return load_plugins(extra=[(_Package(**objects), Provider("third-party", "1.0"))])


def test_a_third_party_methods_profile_params_reach_the_run_config():
    plugins = _with(methods=[_Method()])
    assert profile_config("cpu", plugins=plugins).methods["tp-method"] == {"epochs": 2}
    # cpu-fast is cpu with other arithmetic: it takes cpu's parameters; paper has its own
    assert profile_config("cpu-fast", plugins=plugins).methods["tp-method"] == {"epochs": 2}
    assert profile_config("paper", plugins=plugins).methods["tp-method"] == {"epochs": 7}
    # and it changes the config's hash, as a built-in's parameters do
    assert profile_config("cpu", plugins=plugins).hash() != profile_config("cpu", plugins=load_plugins()).hash()


def test_given_parameters_override_the_plugins_per_plugin():
    plugins = _with(methods=[_Method()])
    cfg = profile_config("cpu", plugins=plugins, methods={"tp-method": {"epochs": 4}})
    assert cfg.methods["tp-method"] == {"epochs": 4}
    assert cfg.methods["layer-retraining"] == {"epochs": 2, "batch_size": 16, "learning_rate": 1e-4}


def test_the_core_profiles_name_no_plugin():
    bare = build_config("cpu")
    assert bare.methods == {} and bare.analyses == {}
    declared = plugin_params(load_plugins(), "cpu")
    assert set(declared["methods"]) == {"layer-retraining"} and set(declared["analyses"]) == {"memorisation-map"}
    assert plugin_params(load_plugins(), "paper") == {"methods": {}, "analyses": {}}


def test_a_malformed_profile_params_is_ignored_not_fatal():
    class Odd(_Method):
        info = MethodInfo(name="tp-odd", description="profile_params of the wrong shape")
        profile_params = ["cpu"]

    assert "tp-odd" not in profile_config("cpu", plugins=_with(methods=[Odd()])).methods


def test_an_unknown_profile_names_the_valid_ones():
    with pytest.raises(Exception, match="cpu-fast"):
        profile_config("gpu")


# -- the default model --------------------------------------------------------------------------------
class _Model:
    def __init__(self, name, default):
        from memlocbench.api import ModelInfo

        self.info = ModelInfo(name=name, description="x", family="bert", sentence_representation="first-token",
                              default=default)

    def __getattr__(self, item):  # the registry checks the adapter's methods exist; none is called here
        if item.startswith("__"):
            raise AttributeError(item)
        return lambda *a, **k: None


def test_the_default_model_is_declared_by_its_plugin(plugins):
    assert default_model(plugins) == "minilm-l6"
    assert [n for n in plugins.models.names() if plugins.models.get(n).info.default] == ["minilm-l6"]


def test_a_built_in_default_wins_over_a_third_party_one_and_two_others_are_ambiguous(monkeypatch):
    assert default_model(_with(models=[_Model("tp-default", True)])) == "minilm-l6"
    monkeypatch.setenv("MEMLOCBENCH_LOAD_PLUGINS", "")
    only_third_party = load_plugins(entry_points=False,
                                    extra=[(_Package(models=[_Model("tp-a", True), _Model("tp-b", False)]),
                                            Provider("third-party", "1.0"))])
    assert default_model(only_third_party) == "tp-a"
    two = load_plugins(entry_points=False, extra=[(_Package(models=[_Model("tp-a", True), _Model("tp-b", True)]),
                                                   Provider("third-party", "1.0"))])
    with pytest.raises(InvalidInputError, match="several installed models.*tp-a, tp-b"):
        default_model(two)
    none = load_plugins(entry_points=False, extra=[(_Package(models=[_Model("tp-b", False)]),
                                                    Provider("third-party", "1.0"))])
    with pytest.raises(InvalidInputError, match="no installed model declares itself the default.*tp-b"):
        default_model(none)


def test_list_models_marks_the_default():
    from memlocbench.cli import main

    out = CliRunner().invoke(main, ["list", "models"])
    assert out.exit_code == 0, out.output
    marked = [line for line in out.output.splitlines() if "[default]" in line]
    assert len(marked) == 1 and "minilm-l6" in marked[0]
