"""Two old probe defects (issue 33): a mistyped name in another case or separator gets its suggestion
(``--task SST2`` -> ``sst2``), and an empty folder option is an error, not the current folder."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.errors import UnknownNameError, suggest


@pytest.mark.parametrize("given,valid,expected", [
    ("SST2", ["sst2", "sst5", "cola"], "sst2"),
    ("layer_swapping", ["layer-swapping", "layer-retraining"], "layer-swapping"),
    ("Layer-Swaping", ["layer-swapping", "layer-retraining"], "layer-swapping"),
    ("xyzzy", ["sst2", "cola"], None),
])
def test_suggestions_ignore_case_and_separators(given, valid, expected):
    assert suggest(given, valid) == expected


def test_unknown_analysis_message_says_analyses():
    assert "Valid analyses:" in str(UnknownNameError("analysis", "x", ["centroids"]))


def test_cli_suggests_the_task_in_another_case():
    out = CliRunner().invoke(main, ["run", "--method", "layer-swapping", "--task", "SST2"])
    assert out.exit_code == 2 and "Did you mean 'sst2'?" in out.output


@pytest.mark.parametrize("args", [
    ["run", "--method", "layer-swapping", "--task", "sst2", "--data-dir", ""],
    ["analyse", "centroids", "--task", "sst2", "--cache-dir", " "],
    ["list", "tasks", "--data-dir", ""],
])
def test_an_empty_folder_option_is_an_error_not_the_current_folder(args):
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 2 and "is empty; give a folder" in out.output
