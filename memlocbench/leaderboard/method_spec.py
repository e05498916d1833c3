"""What the page needs to know about the methods, beside ``LeaderboardSpec``, as plain data: which methods
are neuron methods (``MethodInfo.granularity``; their M-CoG grid is apart from the layer methods'), how
each aggregates its profile (``MethodInfo.aggregation``, which bounds its M-CoG: ``scoring.mcog_bounds``)
and the methods' optional ``flags(details) -> list[str]`` (why a profile they stored is degenerate).

Built from the registry (:meth:`MethodSpec.from_plugins`) and cut down to the methods with results
(``render.page_methods``), like ``LeaderboardSpec``: the page depends on the submissions alone. Without a
registry (``MethodSpec()``) the page uses what the results tell: a method is a neuron method when its
results hold the API's neuron details (``top_neurons``), every aggregation is ``"layers"`` (``MethodInfo``'s
default), and no profile is checked for flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from memlocbench.registry import Plugins

#: the aggregation ``MethodInfo`` declares by default: one score per layer (M-CoG in [1, L])
DEFAULT_AGGREGATION = "layers"
#: what a neuron method's results hold in their details (``api.neuron_output``), when no registry tells
NEURON_DETAIL = "top_neurons"

#: a method's optional ``flags(details)``: the reasons a stored profile is degenerate
MethodFlagger = Callable[[dict], Any]


def flagger(method: object) -> MethodFlagger | None:
    """The method object's optional ``flags``; None where it defines none. Reading the attribute may itself
    fail in a plugin: that error is raised again when the page calls it (and is noted there)."""
    try:
        found = getattr(method, "flags", None)
    except Exception as exc:  # noqa: BLE001 - a plugin's attribute: any error is the plugin's
        error = exc

        def failing(_details: dict) -> Any:
            raise error
        return failing
    return found if callable(found) else None


@dataclass(frozen=True)
class MethodSpec:
    """``neuron_methods``: the methods of granularity "neuron" (None: not known, told from the results);
    ``aggregations``: (method, ``MethodInfo.aggregation``) pairs (a method missing: ``DEFAULT_AGGREGATION``);
    ``flaggers``: (method, its ``flags``) for the methods that define one."""

    neuron_methods: frozenset[str] | None = None
    aggregations: tuple[tuple[str, str], ...] = ()
    flaggers: tuple[tuple[str, MethodFlagger], ...] = field(default=(), compare=False)

    @classmethod
    def from_plugins(cls, plugins: "Plugins") -> "MethodSpec":
        """The declarations of the registered methods."""
        methods = plugins.methods.items
        return cls(
            neuron_methods=frozenset(n for n, m in methods.items() if m.info.granularity == "neuron"),
            aggregations=tuple((n, getattr(methods[n].info, "aggregation", DEFAULT_AGGREGATION))
                               for n in sorted(methods)),
            flaggers=tuple((n, f) for n in sorted(methods) if (f := flagger(methods[n])) is not None))

    def restricted(self, methods: set[str]) -> "MethodSpec":
        """The declarations of ``methods`` only (those with results)."""
        return MethodSpec(
            neuron_methods=None if self.neuron_methods is None else self.neuron_methods & frozenset(methods),
            aggregations=tuple((n, a) for n, a in self.aggregations if n in methods),
            flaggers=tuple((n, f) for n, f in self.flaggers if n in methods))

    def aggregation(self, method: str) -> str:
        """How ``method`` aggregates its profile."""
        return dict(self.aggregations).get(method, DEFAULT_AGGREGATION)

    def flags_of(self, method: str) -> MethodFlagger | None:
        """``method``'s ``flags`` (None: it defines none, or is not known)."""
        return dict(self.flaggers).get(method)

    def is_neuron_method(self, method: str, details: list[dict]) -> bool:
        """Whether ``method`` is a neuron method: as declared, or (no registry) whether every one of its
        results' ``details`` holds the API's neuron details."""
        if self.neuron_methods is not None:
            return method in self.neuron_methods
        return bool(details) and all(NEURON_DETAIL in d for d in details)
