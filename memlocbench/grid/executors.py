"""Executors: what runs the grid's units. One small interface, two built-ins (``local``, ``ray``),
registered through the ``register_executors`` hook like any plugin (a Slurm/submitit executor can
come later as a package of its own).

An executor gets the pending units in dependency order, each a JSON-able dict::

    {"id": str, "deps": [ids of units in this list it waits for],
     "payload": {...}  # hand it to memlocbench.grid.units.run_unit, in any process
     "resources": {"num_cpus": float, "num_gpus": int}}

and the run options, and calls ``report`` once per unit with
``{"id", "status": "done" | "skipped" | "failed", "seconds", "reason"?}``. Units are idempotent (a
unit whose artefact is in the store does nothing), so retrying one is always safe.

The run options are the executor's own options, checked against its ``options_schema`` (a pydantic
model with extra keys forbidden; without one the executor takes no options) by ``executor_options``
before any work, with their defaults filled in, plus the driver's ``progress`` (bool) and ``log``
(a ``str -> None`` callable). Users give them as ``memlocbench grid --executor-option KEY=VALUE`` or
in the grid file's ``[executor_options]`` table (the ray executor's also as ``--ray-address`` and
``--max-retries``).
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tqdm.auto import tqdm

from memlocbench import hookimpl
from memlocbench.errors import InvalidInputError
from memlocbench.grid.units import run_unit

Report = Callable[[dict[str, Any]], None]


def executor_options(executor: Any, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (option name -> value) checked against ``executor.options_schema`` and completed with
    its defaults; an executor without a schema takes no options. Raises InvalidInputError naming the
    valid options for an unknown one, and the problem for a bad value."""
    schema = getattr(executor, "options_schema", None)
    valid = sorted(schema.model_fields) if schema is not None else []
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise InvalidInputError(f"executor {executor.name!r} has no option {', '.join(map(repr, unknown))}; "
                                f"valid: {', '.join(valid) if valid else 'none (it takes no options)'}")
    if schema is None:
        return {}
    try:
        return schema.model_validate(given).model_dump()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
                             for e in exc.errors())
        raise InvalidInputError(f"executor {executor.name!r}: invalid option: {problems}") from None


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[-1] if text else type(exc).__name__


class LocalOptions(BaseModel):
    """The local executor's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    debug: bool = Field(False, description="print the traceback of a unit that fails")


class LocalExecutor:
    name = "local"
    description = "in this process, one unit after another in dependency order, one progress bar"
    options_schema = LocalOptions

    def execute(self, units: list[dict], options: dict, report: Report) -> None:
        failed: set[str] = set()
        with tqdm(total=len(units), desc="grid", unit="unit", disable=not options.get("progress", True)) as bar:
            for unit in units:
                bar.set_postfix_str(unit["id"][-60:])
                bad = [d for d in unit["deps"] if d in failed]
                if bad:
                    failed.add(unit["id"])
                    report({"id": unit["id"], "status": "failed", "seconds": 0.0,
                            "reason": f"dependency failed: {bad[0]}"})
                else:
                    try:
                        report(run_unit(unit["payload"]))
                    except Exception as exc:  # one failing unit does not stop the others
                        failed.add(unit["id"])
                        if options.get("debug"):
                            traceback.print_exc()
                        report({"id": unit["id"], "status": "failed", "seconds": 0.0, "reason": _reason(exc)})
                bar.update(1)


def _ray_unit(payload: dict, *dependencies: dict) -> dict:
    """A Ray task: one unit. ``dependencies`` are the results of the units it depends on; Ray starts
    this task only once they exist, and fails it (without running it) if one of them failed."""
    return run_unit(payload)


class RayOptions(BaseModel):
    """The ray executor's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ray_address: str | None = Field(None, description="the Ray cluster to join, e.g. auto or HOST:6379; "
                                                      "default: a local instance")
    max_retries: int = Field(2, ge=0, description="retries of a unit whose worker died")


class RayExecutor:
    name = "ray"
    description = "each unit a Ray task (num_cpus, num_gpus, max_retries), dependencies as object references"
    options_schema = RayOptions

    def execute(self, units: list[dict], options: dict, report: Report) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidInputError("--executor ray needs Ray: pip install 'memlocbench[ray]'") from None
        log = options.get("log", print)
        started = not ray.is_initialized()
        if started:
            address = options.get("ray_address")
            log(f"ray: connecting to {address}" if address else "ray: starting a local Ray instance")
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning")
        try:
            self._run(ray, units, options, report, log)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, units, options, report, log) -> None:
        task = ray.remote(_ray_unit)
        refs: dict[str, Any] = {}
        for unit in units:  # dependency order: every dependency's reference exists already
            deps = [refs[d] for d in unit["deps"] if d in refs]
            opts = {"num_cpus": unit["resources"]["num_cpus"], "num_gpus": unit["resources"]["num_gpus"],
                    "max_retries": options.get("max_retries", 2), "retry_exceptions": False,
                    "name": unit["id"][:120]}
            refs[unit["id"]] = task.options(**opts).remote(unit["payload"], *deps)
        id_of = {ref: uid for uid, ref in refs.items()}
        deps_of = {u["id"]: u["deps"] for u in units}
        failed: set[str] = set()
        pending = list(refs.values())
        finished = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                uid = id_of[ref]
                finished += 1
                try:
                    out = ray.get(ref)
                except Exception as exc:
                    failed.add(uid)
                    bad = [d for d in deps_of[uid] if d in failed]
                    reason = f"dependency failed: {bad[0]}" if bad else _reason(getattr(exc, "cause", None) or exc)
                    out = {"id": uid, "status": "failed", "seconds": 0.0, "reason": reason}
                report(out)
                extra = f" ({out['seconds']:.1f} s)" if out["status"] == "done" else \
                    f": {out.get('reason', '')}" if out["status"] == "failed" else ""
                log(f"[{finished}/{len(refs)}] {out['status']} {uid}{extra}")


@hookimpl
def register_executors(register):
    register(LocalExecutor())
    register(RayExecutor())
