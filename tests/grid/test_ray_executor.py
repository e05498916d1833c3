"""The ray executor's own logic against a stand-in for Ray (no Ray process is started here; the runs on
a real local instance are in test_grid.py):

- D8: without an address it starts a private local instance (``address="local"``), whatever runs on
  the machine and whatever ``$RAY_ADDRESS`` says, and says so;
- D10: units no node can run (more CPUs than any node has, a GPU where there is none) fail before
  anything is submitted, with the flag to change; a bad address is a clear error at once, an address
  that answers but is no Ray cluster one within ``connect_timeout_s``; while no unit finishes, the
  driver checks that the rest can still be scheduled, says where it stands, and gives up after
  ``stall_timeout_s`` with a message instead of waiting for ever.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from memlocbench.errors import InvalidInputError
from memlocbench.grid import executors
from memlocbench.grid.executors import RayExecutor, RayOptions


class FakeRay:
    """What the executor uses of Ray. Nothing finishes unless ``finish`` says so; ``wait`` gives up
    after ``max_waits`` calls so that an executor that would wait for ever fails the test instead."""

    def __init__(self, nodes=({"CPU": 2.0},), finish=False, max_waits=50):
        self.nodes_now = [dict(n) for n in nodes]
        self.finish, self.max_waits = finish, max_waits
        self.inits, self.submitted, self.cancelled, self.waits = [], [], [], 0
        self.initialized = False
        self.shut = False

    # connection
    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.inits.append(kwargs)
        self.initialized = True

    def shutdown(self):
        self.shut = True
        self.initialized = False

    def nodes(self):
        return [{"Alive": True, "Resources": n} for n in self.nodes_now]

    # tasks
    def remote(self, fn):
        fake = self

        class Task:
            def options(self, **opts):
                class Bound:
                    def remote(self, payload, *deps):
                        ref = object()
                        fake.submitted.append((ref, payload, opts))
                        return ref

                return Bound()

        return Task()

    def wait(self, pending, num_returns=1, timeout=None):
        self.waits += 1
        if self.waits > self.max_waits:
            raise RuntimeError("the executor waited for ever")
        if self.finish:
            return pending[:1], pending[1:]
        if timeout:
            time.sleep(min(timeout, 0.01))
        return [], pending

    def get(self, ref):
        payload = next(p for r, p, _ in self.submitted if r is ref)
        return {"id": payload["id"], "status": "done", "seconds": 0.1}

    def cancel(self, ref, force=False):
        self.cancelled.append(ref)


def _units(n=2, cpus=1.0, gpus=0):
    return [{"id": f"u{i}", "deps": [], "payload": {"id": f"u{i}"},
             "resources": {"num_cpus": cpus, "num_gpus": gpus}} for i in range(n)]


def _execute(fake, units, monkeypatch, **options):
    import sys

    monkeypatch.setitem(sys.modules, "ray", fake)
    logs, reports = [], []
    opts = {**RayOptions().model_dump(), **options, "log": logs.append, "progress": False}
    RayExecutor().execute(units, opts, reports.append)
    return logs, reports


def test_without_an_address_it_starts_a_private_instance(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # a cluster it must not join
    fake = FakeRay(finish=True)
    logs, reports = _execute(fake, _units(), monkeypatch)
    assert [i["address"] for i in fake.inits] == ["local"]
    assert fake.shut  # the instance it started, and only that, is shut down
    assert any("private local Ray instance" in m and "not joining" in m and "RAY_ADDRESS" in m for m in logs), logs
    assert [r["status"] for r in reports] == ["done", "done"]


def test_a_process_already_connected_keeps_its_instance(monkeypatch):
    fake = FakeRay(finish=True)
    fake.initialized = True
    logs, _ = _execute(fake, _units(), monkeypatch)
    assert not fake.inits and not fake.shut
    assert any("already" in m for m in logs)


@pytest.mark.parametrize("units,nodes,expected", [
    (_units(cpus=3.0), [{"CPU": 2.0}], ["--cpus-per-unit 3", "the largest has 2", "--cpus-per-unit 2 or less"]),
    (_units(gpus=1), [{"CPU": 2.0}], ["--device cuda", "no node of the Ray instance has one", "--device cpu"]),
    (_units(cpus=2.0, gpus=1), [{"CPU": 4.0}, {"CPU": 1.0, "GPU": 1.0}], ["no node has both"]),
])
def test_units_no_node_can_run_fail_before_anything_is_submitted(monkeypatch, units, nodes, expected):
    fake = FakeRay(nodes=nodes)
    with pytest.raises(InvalidInputError) as err:
        _execute(fake, units, monkeypatch)
    for text in expected:
        assert text in str(err.value)
    assert not fake.submitted and fake.shut


def test_units_that_can_no_longer_be_scheduled_fail_with_a_message(monkeypatch):
    """A node lost mid-run: the pending units that nothing can run any more are cancelled and fail."""
    fake = FakeRay(nodes=[{"CPU": 2.0}])
    original_wait = fake.wait

    def wait_then_lose_the_node(pending, num_returns=1, timeout=None):
        fake.nodes_now = []
        return original_wait(pending, num_returns, timeout)

    fake.wait = wait_then_lose_the_node
    monkeypatch.setattr(executors, "RAY_CHECK_EVERY_S", 0.01)
    logs, reports = _execute(fake, _units(), monkeypatch)
    assert [r["status"] for r in reports] == ["failed", "failed"]
    assert all("cannot be scheduled any more" in r["reason"] for r in reports)
    assert len(fake.cancelled) == 2


def test_a_stalled_grid_gives_up_after_the_stall_timeout(monkeypatch):
    fake = FakeRay(max_waits=10_000)
    monkeypatch.setattr(executors, "RAY_CHECK_EVERY_S", 0.01)
    t0 = time.monotonic()
    logs, reports = _execute(fake, _units(3), monkeypatch, stall_timeout_s=0.2)
    assert time.monotonic() - t0 < 30
    assert [r["status"] for r in reports] == ["failed"] * 3
    assert all("no unit finished for" in r["reason"] and "stall_timeout_s" in r["reason"] for r in reports)
    assert len(fake.cancelled) == 3
    assert any("none finished for" in m for m in logs)  # the driver said where it stood while it waited


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_bad_address_is_a_clear_error_at_once(monkeypatch):
    address = f"127.0.0.1:{_closed_port()}"
    fake = FakeRay()
    t0 = time.monotonic()
    with pytest.raises(InvalidInputError, match=f"--ray-address {address}: nothing answers at {address}") as err:
        _execute(fake, _units(), monkeypatch, ray_address=address)
    assert time.monotonic() - t0 < 15
    assert "leave --ray-address out" in str(err.value)
    assert not fake.inits and not fake.submitted


@pytest.mark.parametrize("address", ["not-an-address", "host:99999", "http://host:80/x", ":6379"])
def test_a_malformed_address_is_an_invalid_option(address):
    with pytest.raises(InvalidInputError, match="ray_address: .*expected auto, HOST:PORT or ray://HOST:PORT"):
        executors.executor_options(RayExecutor(), {"ray_address": address})
    for good in ("auto", "10.0.0.1:6379", "ray://head:10001", "[::1]:6379"):
        assert executors.executor_options(RayExecutor(), {"ray_address": good})["ray_address"] == good


def test_an_address_that_is_no_ray_cluster_times_out_with_a_message(monkeypatch):
    """Something listens at the address but Ray never connects (Ray itself retries for minutes)."""
    never = threading.Event()
    fake = FakeRay()
    fake.init = lambda **kwargs: never.wait()  # noqa: E731 - a connection attempt that never ends
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(InvalidInputError, match=r"no Ray cluster answered within 0.5 s \(connect_timeout_s\)"):
            _execute(fake, _units(), monkeypatch, ray_address=address, connect_timeout_s=0.5)
        assert time.monotonic() - t0 < 15
    never.set()
    assert not fake.submitted
