"""Finding plugins: entry points of the ``memlocbench`` group, loaded one at a time.

Isolation: a plugin that fails to import or whose hook raises (any exception, ``SystemExit``
included; only ``KeyboardInterrupt`` passes through), that registers an object of the wrong shape
(``info`` not a ``MethodInfo``, a property that raises, a missing method), or that defines a hook
function without ``@hookimpl`` produces a warning naming its package and what is wrong; every
other plugin keeps working.

Built-in names are reserved: a plugin from another package that registers a name the built-in
package ``memlocbench`` provides is rejected as a whole, with a warning naming both packages.

``MEMLOCBENCH_LOAD_PLUGINS`` works as ``LLM_LOAD_PLUGINS`` in Simon Willison's ``llm``: unset, every
installed plugin loads; set, only the comma-separated packages (or entry-point names) listed load
besides the built-ins, so an empty value loads the built-ins only.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, TypeVar

import pluggy

from memlocbench.contracts import hookspecs
from memlocbench.errors import MemlocbenchWarning, UnknownNameError
from memlocbench.contracts.protocols import (Analysis, AnalysisInfo, Executor, LocalisationMethod, MethodInfo, ModelAdapter,
                                   ModelInfo, Task, TaskMetadata)

ENTRY_POINT_GROUP = "memlocbench"
LOAD_ENV = "MEMLOCBENCH_LOAD_PLUGINS"
BUILTIN_PACKAGE = "memlocbench"
T = TypeVar("T")


class PluginWarning(MemlocbenchWarning):
    """A plugin could not be loaded or registered something invalid."""


@dataclass(frozen=True)
class Provider:
    """Which installed package provided a plugin object."""

    package: str
    version: str

    def __str__(self) -> str:
        return f"{self.package} {self.version}"


@dataclass
class Registry(Generic[T]):
    """Name -> object for one kind (task, model, method), with the providing package."""

    kind: str
    items: dict[str, T] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.items)

    def get(self, name: str) -> T:
        if name not in self.items:
            raise UnknownNameError(self.kind, name, self.names())
        return self.items[name]

    def provider(self, name: str) -> Provider:
        return self.providers[name]


@dataclass
class Plugins:
    tasks: Registry[Task]
    models: Registry[ModelAdapter]
    methods: Registry[LocalisationMethod]
    failures: list[str] = field(default_factory=list)
    executors: Registry[Executor] = field(default_factory=lambda: Registry("executor"))
    analyses: Registry[Analysis] = field(default_factory=lambda: Registry("analysis"))

    def registry(self, kind: str) -> Registry[Any]:
        return {"task": self.tasks, "model": self.models, "method": self.methods, "executor": self.executors,
                "analysis": self.analyses}[kind]


@dataclass(frozen=True)
class _Kind:
    kind: str
    hook: str
    protocol: type
    attribute: str  # the metadata attribute carrying the name
    record: type  # its pydantic type
    methods: tuple[str, ...]


_KINDS = (
    _Kind("task", "register_tasks", Task, "metadata", TaskMetadata, ("load",)),
    _Kind("model", "register_models", ModelAdapter, "info", ModelInfo,
          ("load_tokenizer", "load_model", "layer_modules", "parameter_group", "separator",
           "sentence_representation")),
    _Kind("method", "register_methods", LocalisationMethod, "info", MethodInfo, ("localise",)),
    _Kind("executor", "register_executors", Executor, "name", str, ("execute",)),
    _Kind("analysis", "register_analyses", Analysis, "info", AnalysisInfo, ("analyse",)),
)
HOOK_NAMES = tuple(k.hook for k in _KINDS)


def _warn(msg: str, failures: list[str]) -> None:
    failures.append(msg)
    warnings.warn(msg, PluginWarning, stacklevel=3)


def _guarded(fn: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    """Run plugin code; any exception but KeyboardInterrupt (SystemExit included) is returned."""
    try:
        return fn(), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a plugin must not take the program down
        return None, exc


def _describe(exc: BaseException) -> str:
    text, _ = _guarded(lambda: str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _safe_repr(obj: object) -> str:
    text, _ = _guarded(lambda: repr(obj))
    return (text or f"<{type(obj).__name__} object>")[:120]


def normalise_package(name: str) -> str:
    """PEP 503 normalisation, so 'My_Plugin' and 'my-plugin' are the same package."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def load_allowlist() -> set[str] | None:
    """``$MEMLOCBENCH_LOAD_PLUGINS`` as a set of normalised names; None when unset (load all)."""
    raw = os.environ.get(LOAD_ENV)
    if raw is None:
        return None
    return {normalise_package(x) for x in raw.split(",") if x.strip()}


def _problem(obj: object, spec: _Kind) -> tuple[str | None, str | None]:
    """(name, None) for a well-formed object, else (None, what is wrong with it)."""
    record, exc = _guarded(lambda: getattr(obj, spec.attribute))
    if exc is not None:
        if isinstance(exc, AttributeError):
            return None, f"it has no {spec.attribute!r} attribute"
        return None, f"reading its {spec.attribute!r} raised {_describe(exc)}"
    if not isinstance(record, spec.record):
        return None, f"its {spec.attribute!r} is a {type(record).__name__}, not a {spec.record.__name__}"
    missing = [m for m in spec.methods if not (_guarded(lambda m=m: callable(getattr(obj, m)))[0])]
    if missing:
        return None, f"it lacks the method(s) {', '.join(missing)}"
    return (record if isinstance(record, str) else record.name), None


def _unmarked_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Functions named like a hook spec but not marked with ``@hookimpl`` (pluggy skips them silently)."""
    found = []
    for name in HOOK_NAMES:
        attr, _ = _guarded(lambda name=name: getattr(plugin, name, None))
        if callable(attr) and pm.parse_hookimpl_opts(plugin, name) is None:
            found.append(name)
    return found


def _entry_points(allow: set[str] | None, failures: list[str]) -> list[tuple[md.EntryPoint, Provider]]:
    found = []
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        prov = Provider(dist.name if dist else "unknown", dist.version if dist else "unknown")
        found.append((ep, prov))
    if allow is None:
        return found
    known = {normalise_package(p.package) for _, p in found} | {normalise_package(ep.name) for ep, _ in found}
    for name in sorted(allow - known):
        others = sorted({p.package for _, p in found if p.package != BUILTIN_PACKAGE})
        _warn(f"{LOAD_ENV} names {name!r}, but no installed memlocbench plugin has that package or entry-point "
              f"name (installed plugin packages: {', '.join(others) or 'none besides memlocbench'})", failures)
    return [(ep, prov) for ep, prov in found
            if prov.package == BUILTIN_PACKAGE or normalise_package(prov.package) in allow
            or normalise_package(ep.name) in allow]


def load_plugins(extra: Iterable[tuple[object, Provider]] = (), entry_points: bool = True) -> Plugins:
    """Build the registries from installed entry points (filtered by ``$MEMLOCBENCH_LOAD_PLUGINS``)
    plus ``extra`` (object, provider) pairs."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    providers: dict[str, Provider] = {}
    failures: list[str] = []

    def register(plugin: object, name: str, prov: Provider, where: str) -> None:
        for fn in _unmarked_hooks(pm, plugin):
            _warn(f"memlocbench plugin {where} from package {prov} defines {fn}() without @memlocbench.hookimpl, "
                  f"so it is never called; mark it with the decorator", failures)
        _, exc = _guarded(lambda: pm.register(plugin, name=name))
        if exc is not None:
            _warn(f"memlocbench plugin {where} from package {prov} could not be registered and was skipped: "
                  f"{_describe(exc)}", failures)
            return
        providers[name] = prov

    if entry_points:
        for ep, prov in _entry_points(load_allowlist(), failures):
            module, exc = _guarded(ep.load)
            if exc is not None:  # one broken plugin must not break the others
                _warn(f"memlocbench plugin {ep.name!r} from package {prov} failed to load and was skipped: "
                      f"{_describe(exc)}", failures)
                continue
            register(module, f"{prov.package}:{ep.name}", prov, repr(ep.name))
    for obj in extra:
        plugin, prov = obj
        register(plugin, f"{prov.package}:{id(plugin)}", prov, _safe_repr(plugin))

    # every object registered, checked, as (kind, name, object, provider)
    entries: list[tuple[_Kind, str, object, Provider]] = []
    for spec in _KINDS:
        for impl in getattr(pm.hook, spec.hook).get_hookimpls():
            prov = providers.get(impl.plugin_name, Provider("unknown", "unknown"))
            collected: list[object] = []
            _, exc = _guarded(lambda: impl.function(collected.append))
            if exc is not None:
                _warn(f"memlocbench plugin from package {prov} raised in {spec.hook} and was skipped: "
                      f"{_describe(exc)}", failures)
                continue
            for obj in collected:
                name, problem = _problem(obj, spec)
                if problem is not None:
                    _warn(f"package {prov} registered {_safe_repr(obj)} as a {spec.kind}, but it does not satisfy "
                          f"the {spec.protocol.__name__} protocol: {problem}; skipped", failures)
                    continue
                entries.append((spec, name, obj, prov))

    # built-in names are reserved: a package that registers one is rejected as a whole
    builtin = {(spec.kind, name): prov for spec, name, _, prov in entries if prov.package == BUILTIN_PACKAGE}
    impostors: set[str] = set()
    for spec, name, _, prov in entries:
        if prov.package != BUILTIN_PACKAGE and (spec.kind, name) in builtin:
            impostors.add(prov.package)
            _warn(f"error: package {prov} registers the {spec.kind} {name!r}, which the built-in package "
                  f"{builtin[spec.kind, name]} provides; built-in names cannot be taken over, so every "
                  f"plugin of package {prov.package} was rejected", failures)
    entries.sort(key=lambda e: e[3].package != BUILTIN_PACKAGE)  # stable: built-ins first

    registries: dict[str, Registry[Any]] = {spec.kind: Registry(spec.kind) for spec in _KINDS}
    for spec, name, obj, prov in entries:
        if prov.package in impostors:
            continue
        reg = registries[spec.kind]
        if name in reg.items:
            _warn(f"{spec.kind} {name!r} from package {prov} clashes with the one from package "
                  f"{reg.providers[name]}; keeping the first", failures)
            continue
        reg.items[name] = obj
        reg.providers[name] = prov
    return Plugins(registries["task"], registries["model"], registries["method"], failures,
                   executors=registries["executor"], analyses=registries["analysis"])
