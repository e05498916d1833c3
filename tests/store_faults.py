"""Test-only fault injection for the artefact store: something happens between writing an entry's
files and committing them (``ArtefactStore._commit``, the one rename that makes an entry exist).

In this process, ``before_commit(monkeypatch, store, action)`` runs ``action`` just before that
store's next commits (raise to simulate an interruption, write a rival entry to simulate a race).

In another process (a CLI run in a subprocess, a Ray worker), ``install_crash_once()`` arms, from
``$MEMLOCBENCH_TEST_CRASH_ONCE`` = ``"PATTERN=MARKER"``, a crash: the first commit whose
``"<kind>/<key>"`` contains PATTERN writes MARKER and kills its process (``os._exit(17)``), leaving
the written but uncommitted temporary folder behind as a real kill would. It is armed only while
MARKER's folder exists and MARKER does not, so a retry after the crash runs normally. Run a CLI
command under it with ``python tests/store_faults.py <memlocbench arguments>``; in a Ray worker,
name ``"store_faults.install_crash_once"`` as the ``worker_process_setup_hook`` of the runtime
environment (with this folder on the worker's ``PYTHONPATH``).

Nothing here is imported by memlocbench itself: shipped code has no crash switch.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

CRASH_ONCE_ENV = "MEMLOCBENCH_TEST_CRASH_ONCE"
CRASH_EXIT_CODE = 17
TESTS_DIR = Path(__file__).resolve().parent


def before_commit(monkeypatch, store, action: Callable[[], None]) -> None:
    """Make ``store`` (one ArtefactStore object, not others on the same folder) call ``action``
    between writing an entry and committing it, at every ``put`` while ``monkeypatch`` is active."""
    commit = store._commit

    def interrupted(kind, key, tmp):
        action()
        return commit(kind, key, tmp)

    monkeypatch.setattr(store, "_commit", interrupted)


def crash_once_env(pattern: str, marker: Path) -> dict[str, str]:
    """The environment variables that arm ``install_crash_once`` in a subprocess (this folder on
    ``PYTHONPATH``, so that a Ray worker can import this module)."""
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {CRASH_ONCE_ENV: f"{pattern}={marker}", "PYTHONPATH": path}


def install_crash_once() -> None:
    """Arm the crash described by ``$MEMLOCBENCH_TEST_CRASH_ONCE`` in this process (no-op if unset)."""
    from memlocbench.store import ArtefactStore

    hook = os.environ.get(CRASH_ONCE_ENV, "")
    if "=" not in hook:
        return
    pattern, marker_text = hook.split("=", 1)
    marker = Path(marker_text)
    commit = ArtefactStore._commit

    def crash_or_commit(self, kind, key, tmp):
        if pattern in f"{kind}/{key}" and marker.parent.is_dir() and not marker.exists():
            marker.write_text(f"crashed once before committing {kind}/{key}\n")
            os._exit(CRASH_EXIT_CODE)
        return commit(self, kind, key, tmp)

    ArtefactStore._commit = crash_or_commit


def main(argv: list[str]) -> None:
    """``memlocbench <argv>`` with the crash hook installed."""
    install_crash_once()
    from memlocbench.cli import main as cli

    cli.main(args=argv, prog_name="memlocbench")


if __name__ == "__main__":
    main(sys.argv[1:])
