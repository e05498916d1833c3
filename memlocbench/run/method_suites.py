"""Method suites: named groups of localisation methods, declared by the methods themselves.

A method joins a suite by naming it in ``MethodInfo.suites``; ``--method SUITE`` runs every registered
member, and ``--method all`` runs the members of ``DEFAULT_SUITE``. Members are listed in a stable
order: those whose plugin object has an integer ``suite_position`` first (lower first), then the
others, each group in registry order (built-in methods before those of other packages).
"""

from __future__ import annotations

from memlocbench.errors import InvalidInputError, UnknownNameError
from memlocbench.registry import Plugins

#: the suite ``--method all`` runs (and the leaderboard's control ranking and M-CoG means read)
DEFAULT_SUITE = "paper"
#: the name that stands for ``DEFAULT_SUITE`` on the command line and in grid files
ALL = "all"


def _position(method) -> tuple[int, int]:
    """The sort key of a suite member: (0, its suite_position) where it declares an integer one, else (1, 0)."""
    pos = getattr(method, "suite_position", None)
    return (0, pos) if isinstance(pos, int) and not isinstance(pos, bool) else (1, 0)


def suite_members(plugins: Plugins, suite: str) -> list[str]:
    """The names of the registered methods whose ``MethodInfo.suites`` include ``suite``, in suite order
    (``suite_position`` first, then registry order); empty for a suite no method names."""
    members = [(name, m) for name, m in plugins.methods.items.items() if suite in m.info.suites]
    return [name for name, _ in sorted(members, key=lambda item: _position(item[1]))]  # stable: registry order


def method_suites(plugins: Plugins) -> dict[str, list[str]]:
    """Every suite a registered method names -> its members (``suite_members``), suites in the order
    they are first named in the registry."""
    names = dict.fromkeys(s for m in plugins.methods.items.values() for s in m.info.suites)
    return {suite: suite_members(plugins, suite) for suite in names}


def expand_method_names(plugins: Plugins, names: list[str]) -> list[str]:
    """``names`` with ``all`` and every suite name replaced by its members, each method once, in order. A
    registered method's name stands for the method (a suite of the same name is not reachable); a name
    that is neither is an UnknownNameError suggesting the closest method or suite."""
    suites = method_suites(plugins)
    expanded: list[str] = []
    for name in names:
        if name in plugins.methods.items:
            expanded.append(name)
            continue
        suite = DEFAULT_SUITE if name == ALL else name
        if suite not in suites:
            if name == ALL:
                raise InvalidInputError(f"--method {ALL} runs the methods of suite {DEFAULT_SUITE!r}, but no "
                                        f"registered method belongs to it; name methods instead")
            raise UnknownNameError("method", name, [*plugins.methods.names(), *suites, ALL])
        expanded += suites[suite]
    return list(dict.fromkeys(expanded))
