"""D25 (issue 33): a submission name cannot pass for another (homoglyphs from a second script) or hide
text (bidi overrides, zero-width and C1 control characters), whether given to `submit` or written into a
folder's submission.json by hand; names in one script, accents and non-Latin scripts included, are fine."""

from __future__ import annotations

import pytest

from memlocbench.leaderboard.filing import binding_problem, slugify
from memlocbench.leaderboard.submission import SubmissionError, _check_request
from memlocbench.names import display_name_problem


@pytest.mark.parametrize("name", ["Lab X (probing v2)", "日本語", "Café Lab", "Ελληνικά 2", "Лаборатория"])
def test_names_in_one_script_are_fine(name):
    assert display_name_problem(name) is None


@pytest.mark.parametrize("name,problem", [
    ("L\u0430b X", "several scripts"),          # Cyrillic а in a Latin name
    ("Lab\u202eX", "U+202E"),                   # right-to-left override
    ("Lab\u200dX", "U+200D"),                   # zero-width joiner
    ("Lab\u0085X", "U+0085"),                   # C1 control (NEL)
])
def test_names_that_could_pass_for_another_are_refused(name, problem):
    assert problem in display_name_problem(name)
    with pytest.raises(SubmissionError, match="is not allowed"):
        _check_request([__file__], name, "", {}, None)


def test_a_hand_written_record_with_a_homoglyph_name_is_not_bound(tmp_path):
    from types import SimpleNamespace

    name = "memlocbench cpu b\u0430seline"
    folder = tmp_path / slugify(name)
    folder.mkdir()
    meta = SimpleNamespace(name=name, slug=folder.name)
    assert "several scripts" in binding_problem(folder, meta)
