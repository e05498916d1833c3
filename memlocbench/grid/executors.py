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

The ray executor without ``ray_address`` starts a private local instance (``ray.init(address="local")``)
and shuts it down after: it never joins a cluster it did not start, whatever runs on the machine or
``$RAY_ADDRESS`` says. With an address it joins that cluster, or stops with a clear error at once
where nothing answers and after ``connect_timeout_s`` where Ray does not connect. Before submitting
anything it checks that some node can run the units (their CPUs, a GPU with ``--device cuda``); while
no unit finishes it re-checks that every ``RAY_CHECK_EVERY_S`` seconds, prints where the grid stands,
and after ``stall_timeout_s`` cancels the rest with a message: no wait without an end. A failed unit's
reason is its whole exception (``failure_reason``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tqdm.auto import tqdm

from memlocbench import hookimpl
from memlocbench.errors import InvalidInputError
from memlocbench.grid.config import MAX_RETRIES, default_local_workers
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


def failure_reason(exc: BaseException) -> str:
    """A unit's failure in words: the whole exception (its type and every line of its message), then
    each exception it was raised from or during."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "_RemoteTraceback":  # a worker process' stack, attached by the pool
            current = current.__cause__ or current.__context__
            continue
        parts.append("".join(traceback.format_exception_only(type(current), current)).strip() or
                     type(current).__name__)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n(raised from) ".join(parts)


def _ray_reason(exc: BaseException) -> str:
    """The reason of a Ray task that failed: the unit's own exception (Ray's ``cause``) where there is
    one, else Ray's (a dead worker, a cancelled task), whole."""
    cause = getattr(exc, "cause", None)
    return failure_reason(cause if isinstance(cause, BaseException) else exc)


class LocalOptions(BaseModel):
    """The local executor's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    debug: bool = Field(False, description="print the traceback of a unit that fails")
    workers: int = Field(default_factory=default_local_workers, ge=1, le=64,
                         description="units run at once, each in a process of its own (1: one after another, "
                                     "in this process); default 2 on a machine with two or more cores. Each unit's "
                                     "torch threads: the torch default divided among the workers (grid --threads "
                                     "overrides), and the thread count is part of every key")


def _dependency_failed(unit: dict, bad: list[str]) -> dict:
    return {"id": unit["id"], "status": "failed", "seconds": 0.0, "reason": f"dependency failed: {bad[0]}"}


def _failed(unit: dict, exc: BaseException, debug: bool) -> dict:
    if debug:
        traceback.print_exception(exc)
    return {"id": unit["id"], "status": "failed", "seconds": 0.0, "reason": failure_reason(exc)}


class LocalExecutor:
    name = "local"
    description = ("on this machine, in dependency order: one unit at a time in this process (workers = 1), or "
                   "several at once in worker processes (concurrent.futures); one progress bar")
    options_schema = LocalOptions

    def execute(self, units: list[dict], options: dict, report: Report) -> None:
        workers = options.get("workers", 1)
        with tqdm(total=len(units), desc="grid", unit="unit", disable=not options.get("progress", True)) as bar:
            if workers <= 1 or len(units) <= 1:
                self._in_process(units, options, report, bar)
            else:
                self._in_workers(units, workers, options, report, bar)

    @staticmethod
    def _in_process(units: list[dict], options: dict, report: Report, bar) -> None:
        failed: set[str] = set()
        for unit in units:
            bar.set_postfix_str(unit["id"][-60:])
            bad = [d for d in unit["deps"] if d in failed]
            if bad:
                failed.add(unit["id"])
                report(_dependency_failed(unit, bad))
            else:
                try:
                    report(run_unit(unit["payload"]))
                except (Exception, SystemExit) as exc:  # one failing unit does not stop the others
                    failed.add(unit["id"])
                    report(_failed(unit, exc, options.get("debug", False)))
            bar.update(1)

    @staticmethod
    def _in_workers(units: list[dict], workers: int, options: dict, report: Report, bar, fn=run_unit) -> None:
        """A unit is submitted to the process pool once every unit it depends on is done; a unit whose
        dependency failed fails without running. Units are handed out in the planner's order. A worker
        that dies breaks the pool: the units running in it fail (a rerun of the grid retries them, units are
        idempotent), the pool is replaced and the other units go on."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        ids = {u["id"] for u in units}
        waiting = list(units)
        done: set[str] = set()
        failed: set[str] = set()
        running: dict = {}
        pool = _pool(workers)
        try:
            while waiting or running:
                still = []
                for unit in waiting:
                    deps = [d for d in unit["deps"] if d in ids]
                    bad = [d for d in deps if d in failed]
                    if bad:
                        failed.add(unit["id"])
                        report(_dependency_failed(unit, bad))
                        bar.update(1)
                    elif all(d in done for d in deps) and len(running) < workers:
                        try:
                            running[pool.submit(fn, unit["payload"])] = unit
                        except BrokenProcessPool:  # a worker died since the last unit finished
                            pool.shutdown(wait=False, cancel_futures=True)
                            pool = _pool(workers)
                            running[pool.submit(fn, unit["payload"])] = unit
                    else:
                        still.append(unit)
                stuck = len(still) == len(waiting) and not running
                waiting = still
                if stuck:  # units out of dependency order: never wait for what nothing will run
                    for unit in waiting:
                        failed.add(unit["id"])
                        report({"id": unit["id"], "status": "failed", "seconds": 0.0,
                                "reason": "its dependencies were never run (units out of dependency order)"})
                        bar.update(1)
                    return
                if not running:
                    continue  # every waiting unit's dependency failed: they are reported on the next pass
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                broken = False
                for future in finished:
                    unit = running.pop(future)
                    try:
                        outcome = future.result()
                        done.add(unit["id"])
                        report(outcome)
                    except BrokenProcessPool as exc:
                        broken = True
                        failed.add(unit["id"])
                        report({"id": unit["id"], "status": "failed", "seconds": 0.0,
                                "reason": f"its worker process died ({exc}); rerun the grid to retry it"})
                    except (Exception, SystemExit) as exc:  # the unit's own exception
                        failed.add(unit["id"])
                        report(_failed(unit, exc, options.get("debug", False)))
                    bar.set_postfix_str(unit["id"][-60:])
                    bar.update(1)
                if broken:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _pool(workers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _pool(workers: int):
    """A process pool of fresh interpreters (spawn: no forked torch state); each worker runs many units."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _ray_unit(payload: dict, *dependencies: dict) -> dict:
    """A Ray task: one unit. ``dependencies`` are the results of the units it depends on; Ray starts
    this task only once they exist, and fails it (without running it) if one of them failed."""
    return run_unit(payload)


#: how often (seconds) the Ray driver, while no unit finishes, checks that the pending units can still be
#: scheduled and prints where the grid stands
RAY_CHECK_EVERY_S = 300.0


class RayOptions(BaseModel):
    """The ray executor's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ray_address: str | None = Field(None, description="the Ray cluster to join, e.g. auto or HOST:6379; default: "
                                                      "a private local instance started for this grid (never one "
                                                      "already running; $RAY_ADDRESS is not read)")
    max_retries: int = Field(2, ge=0, le=MAX_RETRIES, description="retries of a unit whose worker died")
    connect_timeout_s: float = Field(60.0, gt=0, le=3600, allow_inf_nan=False,
                                     description="how long joining the cluster at ray_address may take before the "
                                                 "grid stops with an error")
    stall_timeout_s: float = Field(24 * 3600.0, gt=0, allow_inf_nan=False,
                                   description="when no unit has finished for this long, the pending units are "
                                               "cancelled and fail with a message (a unit that legitimately runs "
                                               "longer needs a larger value)")

    @field_validator("ray_address")
    @classmethod
    def _address(cls, address: str | None) -> str | None:
        if address is not None:
            _host_port(address)
        return address


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; None for ``auto`` (Ray looks it up).
    Raises ValueError for anything else."""
    if address == "auto":
        return None
    bare = address.split("://", 1)[1] if address.startswith("ray://") else address
    host, sep, port = bare.rpartition(":")
    if not sep or not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is no Ray address: expected auto, HOST:PORT or ray://HOST:PORT (e.g. "
                         f"10.0.0.1:6379); leave --ray-address out to start a private local Ray instance")
    return host.strip("[]"), int(port)


def _reachable(address: str, timeout: float) -> None:
    """A clear error at once where nothing answers at ``address`` (Ray itself retries for minutes)."""
    try:
        where = _host_port(address)
    except ValueError as exc:
        raise InvalidInputError(f"--ray-address: {exc}") from None
    if where is None:
        return
    try:
        with socket.create_connection(where, timeout=min(timeout, 10.0)):
            pass
    except OSError as exc:
        raise InvalidInputError(f"--ray-address {address}: nothing answers at {where[0]}:{where[1]} "
                                f"({type(exc).__name__}: {exc}); check the address (`ray status` on the head node "
                                f"prints it), or leave --ray-address out to start a private local Ray "
                                f"instance") from None


def _join(ray, address: str, timeout: float, **kwargs) -> None:
    """``ray.init(address=...)``, given up after ``timeout`` seconds with a clear error (Ray retries an
    address that answers but is no Ray cluster for minutes). The attempt runs in a daemon thread: on a
    timeout it is abandoned and dies with the process."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            ray.init(address=address, **kwargs)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append(exc)

    worker_logger = logging.getLogger("ray._private.worker")
    quiet = _DropMessage("SIGTERM handler is not set")  # Ray's note on being started outside the main thread
    worker_logger.addFilter(quiet)
    try:
        thread = threading.Thread(target=attempt, name="memlocbench-ray-connect", daemon=True)
        thread.start()
        thread.join(timeout)
    finally:
        worker_logger.removeFilter(quiet)
    if not outcome:
        raise InvalidInputError(f"--ray-address {address}: no Ray cluster answered within {timeout:g} s "
                                f"(connect_timeout_s); check the address, or leave --ray-address out to start a "
                                f"private local Ray instance")
    if outcome[0] is not None:
        exc = outcome[0]
        raise InvalidInputError(f"--ray-address {address}: could not join the Ray cluster: "
                                f"{type(exc).__name__}: {exc}") from None


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _nodes(ray) -> list[dict[str, float]]:
    """The resources of each alive node of the Ray instance."""
    return [dict(n.get("Resources", {})) for n in ray.nodes() if n.get("Alive")]


def _infeasible(resources: dict[str, float], nodes: list[dict[str, float]]) -> str | None:
    """Why no node can ever run a unit asking for ``resources`` (None: one can)."""
    cpus, gpus = resources["num_cpus"], resources["num_gpus"]
    if any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
        return None
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    if not nodes:
        return "the Ray instance has no alive node"
    if gpus and most_gpus < gpus:
        return (f"--device cuda: each unit asks for {gpus:g} GPU, and no node of the Ray instance has one "
                f"({len(nodes)} node(s), {most_gpus:g} GPUs on the largest); use --device cpu, or join a "
                f"cluster with GPUs (--ray-address)")
    if most_cpus < cpus:
        return (f"--cpus-per-unit {cpus:g}: no node of the Ray instance has that many CPUs (the largest has "
                f"{most_cpus:g}); use --cpus-per-unit {most_cpus:g} or less")
    return (f"each unit asks for {cpus:g} CPUs and {gpus:g} GPUs on one node, and no node has both "
            f"(nodes: {', '.join(_describe(n) for n in nodes)})")


def _describe(node: dict[str, float]) -> str:
    return f"{node.get('CPU', 0):g} CPUs/{node.get('GPU', 0):g} GPUs"


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
            self._connect(ray, options, log)
        else:
            log("ray: using the Ray instance this process is connected to already")
        try:
            nodes = _nodes(ray)
            log(f"ray: {len(nodes)} node(s), {sum(n.get('CPU', 0) for n in nodes):g} CPUs, "
                f"{sum(n.get('GPU', 0) for n in nodes):g} GPUs")
            for resources in {tuple(sorted(u["resources"].items())) for u in units}:
                why = _infeasible(dict(resources), nodes)
                if why:  # before any unit is submitted: Ray would wait for such a node for ever
                    raise InvalidInputError(why)
            self._run(ray, units, options, report, log)
        finally:
            if started:
                ray.shutdown()

    @staticmethod
    def _connect(ray, options: dict, log) -> None:
        """Start a private local instance, or join the cluster at ``ray_address`` (never any other)."""
        address = options.get("ray_address")
        kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
        if address is None:
            ignored = f" ($RAY_ADDRESS={os.environ['RAY_ADDRESS']} is not joined: pass --ray-address to join it)" \
                if os.environ.get("RAY_ADDRESS") else ""
            log(f"ray: starting a private local Ray instance for this grid, not joining any running cluster{ignored}")
            ray.init(address="local", **kwargs)  # "local": a new instance whatever runs on this machine
            return
        timeout = options.get("connect_timeout_s", RayOptions().connect_timeout_s)
        log(f"ray: joining the Ray cluster at {address} (at most {timeout:g} s)")
        _reachable(address, timeout)
        _join(ray, address, timeout, **kwargs)

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
        resources_of = {u["id"]: u["resources"] for u in units}
        failed: set[str] = set()
        pending = list(refs.values())
        finished = 0
        stall = options.get("stall_timeout_s", RayOptions().stall_timeout_s)
        check_every = min(RAY_CHECK_EVERY_S, stall)
        last_finish = time.monotonic()

        def give_up(refs_left: list, reason: str) -> None:
            nonlocal finished
            for ref in refs_left:
                ray.cancel(ref, force=True)
                uid = id_of[ref]
                failed.add(uid)
                finished += 1
                report({"id": uid, "status": "failed", "seconds": 0.0, "reason": reason})
            log(f"ray: {len(refs_left)} unit(s) given up: {reason}")

        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=check_every)
            if not ready:  # nothing finished for check_every seconds: can the rest still run, and how long now?
                idle = time.monotonic() - last_finish
                nodes = _nodes(ray)
                stuck = {ref: why for ref in pending if (why := _infeasible(resources_of[id_of[ref]], nodes))}
                if stuck:
                    pending = [ref for ref in pending if ref not in stuck]
                    give_up(list(stuck), f"cannot be scheduled any more: {next(iter(stuck.values()))}")
                elif idle >= stall:
                    give_up(pending, f"no unit finished for {idle:.0f} s (the ray executor's stall_timeout_s, "
                                     f"{stall:g} s): cancelled")
                    pending = []
                else:
                    log(f"ray: {finished}/{len(refs)} unit(s) finished, {len(pending)} pending; none finished for "
                        f"{idle / 60:.0f} min (stall_timeout_s {stall:g} s)")
                continue
            last_finish = time.monotonic()
            for ref in ready:
                uid = id_of[ref]
                finished += 1
                try:
                    out = ray.get(ref)
                except Exception as exc:
                    failed.add(uid)
                    bad = [d for d in deps_of[uid] if d in failed]
                    reason = f"dependency failed: {bad[0]}" if bad else _ray_reason(exc)
                    out = {"id": uid, "status": "failed", "seconds": 0.0, "reason": reason}
                report(out)
                extra = f" ({out['seconds']:.1f} s)" if out["status"] == "done" else \
                    f": {out.get('reason', '')}" if out["status"] == "failed" else ""
                log(f"[{finished}/{len(refs)}] {out['status']} {uid}{extra}")


@hookimpl
def register_executors(register):
    register(LocalExecutor())
    register(RayExecutor())
