"""Finding plugins: entry points of the ``memlocbench`` group, loaded one at a time.

A plugin that fails to import, or whose hook raises, or that registers an object of the wrong
shape, produces a warning naming its package and the error; every other plugin keeps working.
"""

from __future__ import annotations

import importlib.metadata as md
import warnings
from dataclasses import dataclass, field
from typing import Any, Generic, Iterable, TypeVar

import pluggy

from memlocbench import hookspecs
from memlocbench.errors import UnknownNameError
from memlocbench.protocols import Analysis, Executor, LocalisationMethod, ModelAdapter, Task

ENTRY_POINT_GROUP = "memlocbench"
T = TypeVar("T")


class PluginWarning(UserWarning):
    """A plugin could not be loaded or registered something invalid."""


@dataclass(frozen=True)
class Provider:
    """Which installed package provided a plugin object."""

    package: str
    version: str


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


_KINDS = (
    ("task", "register_tasks", Task, lambda o: o.metadata.name),
    ("model", "register_models", ModelAdapter, lambda o: o.info.name),
    ("method", "register_methods", LocalisationMethod, lambda o: o.info.name),
    ("executor", "register_executors", Executor, lambda o: o.name),
    ("analysis", "register_analyses", Analysis, lambda o: o.info.name),
)


def _warn(msg: str, failures: list[str]) -> None:
    failures.append(msg)
    warnings.warn(msg, PluginWarning, stacklevel=3)


def load_plugins(extra: Iterable[tuple[object, Provider]] = (), entry_points: bool = True) -> Plugins:
    """Build the registries from installed entry points plus ``extra`` (object, provider) pairs."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    providers: dict[str, Provider] = {}
    failures: list[str] = []

    if entry_points:
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            prov = Provider(dist.name if dist else "unknown", dist.version if dist else "unknown")
            try:
                module = ep.load()
                pm.register(module, name=f"{prov.package}:{ep.name}")
            except Exception as exc:  # one broken plugin must not break the others
                _warn(
                    f"memlocbench plugin {ep.name!r} from package {prov.package} {prov.version} "
                    f"failed to load and was skipped: {type(exc).__name__}: {exc}",
                    failures,
                )
                continue
            providers[f"{prov.package}:{ep.name}"] = prov
    for obj, prov in extra:
        name = f"{prov.package}:{id(obj)}"
        pm.register(obj, name=name)
        providers[name] = prov

    registries: dict[str, Registry[Any]] = {}
    for kind, hook_name, proto, key in _KINDS:
        reg: Registry[Any] = Registry(kind)
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            prov = providers.get(impl.plugin_name, Provider("unknown", "unknown"))
            collected: list[object] = []
            try:
                impl.function(collected.append)
            except Exception as exc:
                _warn(
                    f"memlocbench plugin from package {prov.package} {prov.version} raised in "
                    f"{hook_name} and was skipped: {type(exc).__name__}: {exc}",
                    failures,
                )
                continue
            for obj in collected:
                if not isinstance(obj, proto):
                    _warn(
                        f"package {prov.package} {prov.version} registered {obj!r} as a {kind}, but it does not "
                        f"satisfy the {proto.__name__} protocol; skipped",
                        failures,
                    )
                    continue
                name = key(obj)
                if name in reg.items:
                    _warn(
                        f"{kind} {name!r} from package {prov.package} clashes with the one from "
                        f"{reg.providers[name].package}; keeping the first",
                        failures,
                    )
                    continue
                reg.items[name] = obj
                reg.providers[name] = prov
        registries[kind] = reg
    return Plugins(registries["task"], registries["model"], registries["method"], failures,
                   executors=registries["executor"], analyses=registries["analysis"])
