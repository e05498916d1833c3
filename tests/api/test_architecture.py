"""The package's import structure: stages import only downward, no cycles at any depth, built-in plugins
import only the public API and not each other (the contracts live in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    for contract in ("Stages import only downward", "No import cycle", "Built-in plugins import only",
                     "No built-in plugin package imports another"):
        assert contract in proc.stdout
    assert "BROKEN" not in proc.stdout
