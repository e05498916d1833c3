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

Task files: the ``*.toml`` files in the folders of ``$MEMLOCBENCH_TASK_PATH`` declare tasks without
Python (``memlocbench.data.task_file``); each is registered as a plugin of its own, provided by a
package named after the file, and a broken one is a warning naming the file and the problem.
``$MEMLOCBENCH_LOAD_PLUGINS`` does not filter them: listing a folder is the opt-in.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, NamedTuple, TypeVar

import pluggy

from memlocbench.contracts import hookspecs
from memlocbench.contracts.hookspecs import hookimpl
from memlocbench.errors import InvalidInputError, MemlocbenchError, MemlocbenchWarning, UnknownNameError
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


@dataclass
class _Loading:
    """One ``load_plugins`` call in progress: the plugin manager, who provided each registered plugin,
    and the warnings so far."""

    pm: pluggy.PluginManager
    providers: dict[str, Provider] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def register(self, plugin: object, name: str, prov: Provider, where: str) -> None:
        """Register one plugin (module or object) with pluggy; a warning, not an error, if it cannot be."""
        for fn in _unmarked_hooks(self.pm, plugin):
            _warn(f"memlocbench plugin {where} from package {prov} defines {fn}() without @memlocbench.hookimpl, "
                  f"so it is never called; mark it with the decorator", self.failures)
        _, exc = _guarded(lambda: self.pm.register(plugin, name=name))
        if exc is not None:
            _warn(f"memlocbench plugin {where} from package {prov} could not be registered and was skipped: "
                  f"{_describe(exc)}", self.failures)
            return
        self.providers[name] = prov


class _Entry(NamedTuple):
    """One object a plugin registered, checked against its protocol."""

    spec: _Kind
    name: str
    obj: object
    prov: Provider


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _register_entry_points(loading: _Loading) -> None:
    """Every installed entry point allowed by ``$MEMLOCBENCH_LOAD_PLUGINS``, each loaded on its own."""
    for ep, prov in _entry_points(load_allowlist(), loading.failures):
        module, exc = _guarded(ep.load)
        if exc is not None:  # one broken plugin must not break the others
            _warn(f"memlocbench plugin {ep.name!r} from package {prov} failed to load and was skipped: "
                  f"{_describe(exc)}", loading.failures)
            continue
        loading.register(module, f"{prov.package}:{ep.name}", prov, repr(ep.name))


class _TaskFilePlugin:
    """The plugin a task file becomes: it registers the file's one task."""

    def __init__(self, task: object):
        self.task = task

    @hookimpl
    def register_tasks(self, register) -> None:
        register(self.task)


def _register_task_files(loading: _Loading) -> None:
    """The tasks declared in the ``*.toml`` files of ``$MEMLOCBENCH_TASK_PATH``, each file a plugin of its
    own (provider: the file's name and its declared version); a broken file is a warning naming it."""
    from memlocbench.data.task_file import provider_package, task_file_paths, task_from_file

    paths, problems = task_file_paths()
    for problem in problems:
        _warn(problem, loading.failures)
    for path in paths:
        task, exc = _guarded(lambda path=path: task_from_file(path))
        if exc is not None:  # one broken file must not break the others
            problem = str(exc) if isinstance(exc, MemlocbenchError) else f"task file {path}: {_describe(exc)}"
            _warn(f"{problem}; the task file was skipped", loading.failures)
            continue
        prov = Provider(provider_package(path), str(task.metadata.version))
        loading.register(_TaskFilePlugin(task), f"task-file:{path}", prov, f"task file {path}")


def _collect(loading: _Loading) -> list[_Entry]:
    """Every object the registered plugins' hooks register, each checked against its protocol."""
    entries: list[_Entry] = []
    for spec in _KINDS:
        for impl in getattr(loading.pm.hook, spec.hook).get_hookimpls():
            prov = loading.providers.get(impl.plugin_name, Provider("unknown", "unknown"))
            collected: list[object] = []
            _, exc = _guarded(lambda: impl.function(collected.append))
            if exc is not None:
                _warn(f"memlocbench plugin from package {prov} raised in {spec.hook} and was skipped: "
                      f"{_describe(exc)}", loading.failures)
                continue
            for obj in collected:
                name, problem = _problem(obj, spec)
                if problem is not None:
                    _warn(f"package {prov} registered {_safe_repr(obj)} as a {spec.kind}, but it does not satisfy "
                          f"the {spec.protocol.__name__} protocol: {problem}; skipped", loading.failures)
                    continue
                entries.append(_Entry(spec, name, obj, prov))
    return entries


def _impostors(entries: list[_Entry], failures: list[str]) -> set[str]:
    """Packages that register a name the built-in package provides: each is rejected as a whole."""
    builtin = {(e.spec.kind, e.name): e.prov for e in entries if e.prov.package == BUILTIN_PACKAGE}
    impostors: set[str] = set()
    for spec, name, _, prov in entries:
        if prov.package != BUILTIN_PACKAGE and (spec.kind, name) in builtin:
            impostors.add(prov.package)
            _warn(f"package {prov} registers the {spec.kind} {name!r}, which the built-in package "
                  f"{builtin[spec.kind, name]} provides; built-in names cannot be taken over, so every "
                  f"plugin of package {prov.package} was rejected", failures)
    return impostors


def _registries(entries: list[_Entry], impostors: set[str], failures: list[str]) -> dict[str, Registry[Any]]:
    """Kind -> registry; built-ins first, then the first of two objects of one kind and name."""
    registries: dict[str, Registry[Any]] = {spec.kind: Registry(spec.kind) for spec in _KINDS}
    for spec, name, obj, prov in sorted(entries, key=lambda e: e.prov.package != BUILTIN_PACKAGE):  # stable
        if prov.package in impostors:
            continue
        reg = registries[spec.kind]
        if name in reg.items:
            _warn(f"{spec.kind} {name!r} from package {prov} clashes with the one from package "
                  f"{reg.providers[name]}; keeping the first", failures)
            continue
        reg.items[name] = obj
        reg.providers[name] = prov
    return registries


def load_plugins(extra: Iterable[tuple[object, Provider]] = (), entry_points: bool = True,
                 task_files: bool = True) -> Plugins:
    """Build the registries from installed entry points (filtered by ``$MEMLOCBENCH_LOAD_PLUGINS``),
    ``extra`` (object, provider) pairs and, with ``task_files``, the task files of
    ``$MEMLOCBENCH_TASK_PATH``; of two objects of one kind and name, the first in that order is kept."""
    loading = _Loading(_new_manager())
    if entry_points:
        _register_entry_points(loading)
    for plugin, prov in extra:
        loading.register(plugin, f"{prov.package}:{id(plugin)}", prov, _safe_repr(plugin))
    if task_files:
        _register_task_files(loading)
    entries = _collect(loading)
    registries = _registries(entries, _impostors(entries, loading.failures), loading.failures)
    return Plugins(registries["task"], registries["model"], registries["method"], loading.failures,
                   executors=registries["executor"], analyses=registries["analysis"])


def default_model(plugins: Plugins) -> str:
    """The model a command uses when none is named: the one whose ``ModelInfo.default`` is set. Of
    several, the built-in package's; several from other packages and none built in is an error, as is
    none at all (name one with ``--model``)."""
    declared = [name for name in plugins.models.names() if plugins.models.get(name).info.default]
    builtin = [name for name in declared if plugins.models.provider(name).package == BUILTIN_PACKAGE]
    if len(builtin) == 1 or len(declared) == 1:
        return (builtin or declared)[0]
    if not declared:
        raise InvalidInputError(f"no installed model declares itself the default (ModelInfo.default); name one "
                               f"with --model: {', '.join(plugins.models.names()) or 'none installed'}")
    raise InvalidInputError(f"several installed models declare themselves the default ({', '.join(declared)}); "
                           f"name one with --model")
