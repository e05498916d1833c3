"""memlocbench's built-in localisation methods. Each module is its own entry point (plugin)."""

from __future__ import annotations


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def minimum_checks(minimums: dict[str, float], positive: tuple[str, ...] = (),
                   below_one: tuple[str, ...] = ()) -> staticmethod:
    """A method's ``check_params`` (called before any training): each parameter of ``minimums`` at least
    its minimum (a batch size of 0 would fail only after the models trained), each of ``positive`` above 0,
    each of ``below_one`` in [0, 1). ``ctx.params`` has checked the names and types already."""

    def check_params(params: dict, registered: dict) -> list[str]:
        problems = [f"{k} must be >= {low:g}, got {params[k]!r}" for k, low in minimums.items()
                    if k in params and not (_number(params[k]) and params[k] >= low)]
        problems += [f"{k} must be positive, got {params[k]!r}" for k in positive
                     if k in params and not (_number(params[k]) and params[k] > 0)]
        problems += [f"{k} must be in [0, 1), got {params[k]!r}" for k in below_one
                     if k in params and not (_number(params[k]) and 0 <= params[k] < 1)]
        return problems

    return staticmethod(check_params)
