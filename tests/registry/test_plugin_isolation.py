"""Plugin isolation (issue 11, item 6): any exception in a plugin, malformed objects, unmarked
hooks, built-in names, the MEMLOCBENCH_LOAD_PLUGINS allowlist, providers in cache keys, and
method output checked before it is cached."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from memlocbench import hookimpl
from memlocbench.errors import MethodOutputError
from memlocbench.registry import LOAD_ENV, PluginWarning, Provider, load_plugins
from memlocbench.contracts.protocols import LayerScores, MethodInfo, TaskMetadata


class _Method:
    def __init__(self, name):
        self.info = MethodInfo(name=name, description="test method")

    def localise(self, ctx):
        return LayerScores(raw=[1.0] * ctx.num_layers)


def _plugin(hook: str, *objs):
    class P:
        pass

    def fn(self, register):
        for o in objs:
            register(o)

    setattr(P, hook, hookimpl(fn))
    return P()


def _load(*extra):
    with pytest.warns(PluginWarning) as rec:
        p = load_plugins(extra=list(extra))
    return p, " | ".join(str(w.message) for w in rec)


class _Boom(BaseException):
    pass


@pytest.mark.parametrize("exc", [SystemExit(3), _Boom("odd"), MemoryError("oom"), GeneratorExit()])
def test_any_exception_in_a_hook_skips_only_that_plugin(exc):
    class Raises:
        @hookimpl
        def register_methods(self, register):
            raise exc

    p, msg = _load((Raises(), Provider("raiser", "1.0")), (_plugin("register_methods", _Method("fine")),
                                                            Provider("fine-pkg", "2")))
    assert "raiser 1.0" in msg and type(exc).__name__ in msg
    assert {"fine", "layer-swapping"} <= set(p.methods.names())


class _RaisingInfo:
    @property
    def info(self):
        raise RuntimeError("info exploded")

    def localise(self, ctx):
        return None


class _NoLocalise:
    info = MethodInfo(name="no-localise", description="x")


class _StrMetadata:
    metadata = "sst2-like"

    def load(self, *a):
        return None


@pytest.mark.parametrize("hook,obj,problem", [
    ("register_methods", SimpleNamespace(info={"name": "dict-info"}, localise=lambda c: None),
     "'info' is a dict, not a MethodInfo"),
    ("register_tasks", _StrMetadata(), "'metadata' is a str, not a TaskMetadata"),
    ("register_methods", _RaisingInfo(), "RuntimeError: info exploded"),
    ("register_methods", _NoLocalise(), "lacks the method(s) localise"),
    ("register_models", SimpleNamespace(info=MethodInfo(name="m", description="x")), "not a ModelInfo"),
])
def test_malformed_objects_are_rejected_with_the_package_and_the_problem(hook, obj, problem):
    p, msg = _load((_plugin(hook, obj), Provider("shabby", "0.1")))
    assert "shabby 0.1" in msg and problem in msg
    assert "sst2" in p.tasks.names() and "minilm-l6" in p.models.names() and "layer-swapping" in p.methods.names()


def test_hook_without_hookimpl_is_reported():
    class Unmarked:
        def register_methods(self, register):  # forgot @hookimpl: pluggy would ignore it silently
            register(_Method("never"))

    p, msg = _load((Unmarked(), Provider("forgetful", "1")))
    assert "forgetful 1" in msg and "register_methods() without @memlocbench.hookimpl" in msg
    assert "never" not in p.methods.names()


@pytest.mark.parametrize("hook,name,kind", [("register_methods", "layer-swapping", "method"),
                                            ("register_tasks", "sst2", "task")])
def test_builtin_names_cannot_be_taken_over(plugins, hook, name, kind):
    if kind == "method":
        impostor = _Method(name)
    else:
        impostor = SimpleNamespace(metadata=plugins.tasks.get("sst2").metadata, load=lambda *a: None)
    extra = _plugin(hook, impostor)
    other = _plugin("register_methods", _Method("impostor-extra"))
    p, msg = _load((extra, Provider("impostor", "6.6")), (other, Provider("impostor", "6.6")))
    assert "impostor 6.6" in msg and "memlocbench 0.1.0" in msg and repr(name) in msg
    reg = p.registry(kind)
    assert reg.provider(name).package == "memlocbench"  # the built-in stays
    assert type(reg.get(name)) is type(plugins.registry(kind).get(name))  # not the impostor
    assert "impostor-extra" not in p.methods.names()  # the whole plugin is rejected


def _fake_distribution(root, dist: str, module: str, body: str) -> None:
    """An installed package ``dist`` 0.3 whose entry point loads ``module`` (written from ``body``)."""
    from test_plugins import _fake_distribution as fake_dist_info

    fake_dist_info(root, dist, f"[memlocbench]\n{module} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(body))


_GOOD = """
from memlocbench import hookimpl
from memlocbench.contracts.protocols import LayerScores, MethodInfo

class M:
    info = MethodInfo(name="{name}", description="from a fake package")
    def localise(self, ctx):
        return LayerScores(raw=[1.0] * ctx.num_layers)

@hookimpl
def register_methods(register):
    register(M())
"""


def _cli_list(tmp_path, env_value):
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop(LOAD_ENV, None)
    if env_value is not None:
        env[LOAD_ENV] = env_value
    return subprocess.run([sys.executable, "-m", "memlocbench.cli", "list", "methods"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_plugin_calling_sys_exit_at_import_leaves_list_working(tmp_path):
    _fake_distribution(tmp_path, "exiting_pkg", "exiting_mod", "import sys\nsys.exit(7)\n")
    _fake_distribution(tmp_path, "good_pkg", "good_mod", _GOOD.format(name="good-method"))
    out = _cli_list(tmp_path, None)
    assert out.returncode == 0, out.stderr
    assert "exiting_pkg 0.3" in out.stderr and "SystemExit" in out.stderr
    assert "good-method" in out.stdout and "layer-swapping" in out.stdout


@pytest.mark.parametrize("value,loaded,warned", [
    (None, True, False),  # unset: every installed plugin
    ("", False, False),  # empty: built-ins only
    ("good-pkg", True, False),  # listed by package (normalised: good_pkg == good-pkg)
    (" good_mod ,", True, False),  # or by entry-point name
    ("other-pkg", False, True),  # an unknown name is reported
])
def test_load_plugins_allowlist_as_in_llm(tmp_path, value, loaded, warned):
    _fake_distribution(tmp_path, "good_pkg", "good_mod", _GOOD.format(name="allowed-method"))
    out = _cli_list(tmp_path, value)
    assert out.returncode == 0, out.stderr
    assert ("allowed-method" in out.stdout) == loaded
    assert "layer-swapping" in out.stdout and "sst2" not in out.stderr  # built-ins always load
    assert ("'other-pkg'" in out.stderr) == warned


def test_provider_is_part_of_every_cache_key(plugins):
    from memlocbench.run.method_run import layer_scores_spec, provider_of
    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore
    from memlocbench.training.trained_models import TrainedModels, recipe_for

    cfg = profile_config("cpu")
    method = plugins.methods.get("layer-swapping")
    other = load_plugins(extra=[(_plugin("register_methods", _Method("uniform")), Provider("pkg", "1"))])
    other.methods.providers["layer-swapping"] = Provider("memlocbench", "9.9")  # same name, another version
    view = SimpleNamespace(key=lambda role: role * 4, aliases={}, device="cpu", threads=2)
    keys = {ArtefactStore.key(layer_scores_spec(method, cfg, view, provider_of(p, "method", "layer-swapping")))
            for p in (plugins, other)}
    assert len(keys) == 2

    dataset = SimpleNamespace(fingerprint=lambda: "f" * 64, num_labels=2)
    adapter = plugins.models.get("minilm-l6")

    def model_key(prov):
        tm = TrainedModels(ArtefactStore("/nonexistent"), adapter, "minilm-l6", "sst2", 1, dataset, None, None, cfg,
                           providers={"task": {"package": "memlocbench", "version": "0.1.0"}, "model": prov})
        return ArtefactStore.key(tm.spec(recipe_for("memorising")))

    assert model_key({"package": "memlocbench", "version": "0.1.0"}) != model_key({"package": "x", "version": "1"})


@pytest.mark.parametrize("raw,problem", [
    ([float("nan"), 1, 1], "nan"), ([1.0, -0.5, 1.0], "-0.5"), ([math.inf, 1, 1], "inf"),
    (["1", 1, 1], "'1'"), ([None, 1, 1], "None"), ([True, 1, 1], "True"), ([1.0, 1.0], "2 layer weights"),
])
def test_method_output_is_checked(raw, problem):
    from memlocbench.run.method_run import check_method_output

    with pytest.raises(MethodOutputError) as exc:
        check_method_output(LayerScores(raw=raw), 3, "bad-method", "bad-pkg")
    assert "'bad-method'" in str(exc.value) and "bad-pkg" in str(exc.value) and problem in str(exc.value)


def test_bad_method_output_is_not_cached(plugins, tmp_path):
    """layer_scores raises before the store is written (stub models: no training needed)."""
    from memlocbench.run.method_run import RunInputs, RunRequest, layer_scores
    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore

    class NaNMethod(_Method):
        def localise(self, ctx):
            return LayerScores(raw=[float("nan")] * ctx.num_layers, details={"x": object()})

    p = load_plugins(extra=[(_plugin("register_methods", NaNMethod("nan-method")), Provider("nan-pkg", "1"))])
    store = ArtefactStore(tmp_path)
    req = RunRequest(task="sst2", model="minilm-l6", methods=["nan-method"], config=profile_config("cpu"),
                     store=store)
    models = SimpleNamespace(key=lambda role: role * 4, aliases={}, device="cpu", threads=2)
    prep = RunInputs(p.tasks.get("sst2"), p.models.get("minilm-l6"), None, None, None, models, 6, 0.0, p)
    with pytest.raises(MethodOutputError, match="nan-method.*nan-pkg"):
        layer_scores(req, prep, models, p.methods.get("nan-method"))
    assert not (tmp_path / "layer-scores").exists() or not any((tmp_path / "layer-scores").iterdir())
