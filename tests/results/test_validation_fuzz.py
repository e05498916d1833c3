"""Property-based test of `validate` (hypothesis) over mutated copies of the real committed result
files: validation never raises and always returns a clean per-file report; every mutation that
breaks an invariant is rejected (and `submit` then writes nothing); mutations that keep every
invariant are accepted, so the checks are not simply rejecting everything."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from memlocbench.names import NAME_PATTERN
from memlocbench.results.run_result import RECOMPUTE_TOLERANCE
from memlocbench.leaderboard import Checked, SubmissionError, submit, validate_file

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "leaderboard" / "submissions" / "memlocbench-cpu-baseline"
FILES = [BASELINE / n for n in (
    "sst2__minilm-l6__layer-swapping__2f5dae697d19.json",
    "cola__minilm-l6__probing__2f5dae697d19.json",
    "emotion__minilm-l6__gradient-attribution__2f5dae697d19.json",
    "sst2__minilm-l6__layer-retraining__control-4-5__582ffc8deb01.json",
    "sst2__minilm-l6__integrated-gradients__planted-neurons__46279e1b77ef.json",
)]
ORIGINAL = {p: json.loads(p.read_text()) for p in FILES}
#: top-level keys a result may lack: no control setup; a guard block (derived from the statistics when absent)
OPTIONAL = ("control", "memorisation_guard")

# JSON values of every kind, including the ones Python's json writes for non-finite floats.
values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20), st.sampled_from([0, 1, 0.5, 1.0, 3.0, True]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fraction(v) -> bool:
    return _is_number(v) and 0 <= v <= 1


def _non_negative(v) -> bool:
    return _is_number(v) and v >= 0


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _created_at(v) -> bool:
    if not isinstance(v, str):
        return False
    try:
        when = dt.datetime.fromisoformat(v)
    except ValueError:
        return False
    return when.tzinfo is not None and when <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)


def _within_tolerance(orig, v) -> bool:
    """A derived float moved by less than the validator's stated recompute tolerance (10x, for the
    fields derived from it): accepted by design, so neither outcome is asserted."""
    return isinstance(orig, float) and _is_number(v) and 0 < abs(v - orig) <= 10 * RECOMPUTE_TOLERANCE


def _unchanged(orig):
    """Valid only as the same value (an integer stands for a float; nothing stands for an integer)."""
    if isinstance(orig, float):
        return lambda v: _is_number(v) and v == orig
    return lambda v: type(v) is type(orig) and v == orig


# (path in the record, is the new value valid?) for fields whose validity depends on the value only.
# Fields that others are derived from, or that are derived (profile, mcog, control scores, sizes that
# must add up, config), stay valid only when unchanged.
SIMPLE = [
    (("memorisation", "memorising", "validation_acc"), _fraction),
    (("memorisation", "clean", "clean_train_acc"), _fraction),
    (("memorisation", "clean", "validation_acc"), _fraction),
    (("memorisation", "memorising", "train_seconds"), _non_negative),
    (("timings", "method"), _non_negative),
    (("timings", "data"), _non_negative),
    (("sizes", "validation_size"), _count),
    (("sizes", "test_size"), _count),
    (("created_at",), _created_at),
    (("mcog",), None),
    (("profile", 0), None),
    (("profile_raw", 2), None),
    (("num_layers",), None),
    (("config_hash",), None),
    (("sizes", "n_noisy"), None),
    (("task", "package"), None),
    (("method", "version"), None),
]


def _get(d, path):
    for p in path:
        d = d[p]
    return d


def _set(d, path, value):
    _get(d, path[:-1])[path[-1]] = value


def _check(path: Path, text: str) -> Checked:
    path.write_text(text)
    return validate_file(path, _PLUGINS)


_PLUGINS = None


@pytest.fixture(autouse=True, scope="module")
def _plugins(plugins):
    global _PLUGINS
    _PLUGINS = plugins


def _assert_clean_report(checked: Checked, path: Path) -> None:
    assert isinstance(checked, Checked)
    assert all(isinstance(p, str) and p.startswith(f"{path}: ") and "Traceback" not in p for p in checked.problems)


def _assert_rejected_and_nothing_written(path: Path, checked: Checked) -> None:
    assert checked.problems and checked.result is None or checked.problems
    subs = path.parent / "subs"
    with pytest.raises(SubmissionError, match="nothing was written"):
        submit([path], "fuzz", subs, plugins=_PLUGINS)
    assert not subs.exists()


#: the pinned examples move this value, so they stay on each side of the tolerance if the file is resubmitted
_PROFILE_0 = ORIGINAL[FILES[1]]["profile"][0]

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(FILES), st.integers(0, len(SIMPLE) - 1), values)
@example(FILES[1], SIMPLE.index((("profile", 0), None)), _PROFILE_0 + 1e-9)  # a CI failure: inside the tolerance
@example(FILES[1], SIMPLE.index((("profile", 0), None)), _PROFILE_0 + 1e-3)  # outside it: must be rejected
def test_a_field_set_to_any_json_value(file, which, value):
    field, valid_value = SIMPLE[which]
    d = copy.deepcopy(ORIGINAL[file])
    if field[0] == "profile_raw" and field[1] >= len(d["profile_raw"]):
        return
    orig = _get(d, field)
    _set(d, field, value)
    valid = (valid_value or _unchanged(orig))(value)
    if valid_value is None and _within_tolerance(orig, value):
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        checked = _check(path, json.dumps(d))
        _assert_clean_report(checked, path)
        if valid:
            assert not checked.problems, (field, value, checked.problems)
        else:
            assert checked.problems, (field, value)
            _assert_rejected_and_nothing_written(path, checked)


names = st.one_of(st.text(max_size=20), st.from_regex(NAME_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 64),
                  st.sampled_from(["../memlocbench-cpu-baseline/cola", "../../evil", "..", ".", "a..b", "<b>x</b>"]))


@FUZZ
@given(st.sampled_from(FILES), st.sampled_from(["task", "model", "method"]), names)
def test_a_name_set_to_any_text(file, kind, name):
    """A name passes only if it matches the pattern and the built-in package really provides it
    (and, for a model, with the result's layer count)."""
    d = copy.deepcopy(ORIGINAL[file])
    orig = d[kind]["name"]
    d[kind]["name"] = name
    reg = _PLUGINS.registry(kind)
    valid = bool(re.fullmatch(NAME_PATTERN, name)) and len(name) <= 64 and name in reg.items
    if kind == "model" and valid:
        valid = reg.items[name].info.num_layers == d["num_layers"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        checked = _check(path, json.dumps(d))
        _assert_clean_report(checked, path)
        assert bool(checked.problems) != valid, (kind, orig, name, checked.problems)
        if not valid:
            _assert_rejected_and_nothing_written(path, checked)


def _paths(d, prefix=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, prefix + (i,))
    else:
        yield prefix


LEAVES = {p: list(_paths(d)) for p, d in ORIGINAL.items()}


@FUZZ
@given(st.sampled_from(FILES), st.data(), st.sampled_from(["nan", "inf", "delete", "extra", "deep", "truncate", "binary"]))
def test_structural_damage_anywhere(file, data, how):
    """Non-finite numbers at any leaf (details and config included), a deleted required field, an
    unknown field, deep nesting, truncation, binary garbage: always rejected, never a crash."""
    d = copy.deepcopy(ORIGINAL[file])
    text = None
    if how in ("nan", "inf"):
        leaf = data.draw(st.sampled_from(LEAVES[file]))
        _set(d, leaf, float(how) * data.draw(st.sampled_from([1, -1])))
    elif how == "delete":
        key = data.draw(st.sampled_from(sorted(k for k in d if k not in OPTIONAL)))
        del d[key]
    elif how == "extra":
        parent = data.draw(st.sampled_from([(), ("task",), ("memorisation", "clean"), ("config", "train")]))
        _get(d, parent)[data.draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in _get(d, parent)))] = 1
        if parent == ("config", "train"):  # keep the hash valid: the config schema itself must object
            from memlocbench.config.profiles import config_hash

            d["config_hash"] = config_hash(d["config"])
    elif how == "deep":
        depth = data.draw(st.sampled_from([40, 1000, 100_000]))
        text = json.dumps(d)[:-1] + ', "details": ' + "[" * depth + "]" * depth + "}"
    elif how == "truncate":
        full = json.dumps(d)
        text = full[: data.draw(st.integers(0, len(full) - 1))]
    else:
        text = data.draw(st.binary(min_size=1, max_size=200)).decode("latin-1")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        checked = _check(path, text if text is not None else json.dumps(d))
        _assert_clean_report(checked, path)
        assert checked.problems, (how, text[:80] if text else d)
        _assert_rejected_and_nothing_written(path, checked)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(FILES), st.lists(st.floats(0, 1e6, allow_subnormal=False), min_size=1, max_size=1))
def test_consistent_edits_of_measured_numbers_pass(file, scale):
    """Scaling profile_raw keeps the normalised profile, M-CoG and control scores: still valid.
    (Edits like this are what only `memlocbench verify` can catch.)"""
    d = copy.deepcopy(ORIGINAL[file])
    if scale[0] == 0 or any(x * scale[0] > 1e300 for x in d["profile_raw"]):
        return
    d["profile_raw"] = [x * scale[0] for x in d["profile_raw"]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        checked = _check(path, json.dumps(d))
        assert not checked.problems or any("profile does not follow" in p for p in checked.problems) and \
            max(abs(a - b) for a, b in zip(d["profile"], [x / sum(d["profile_raw"]) for x in d["profile_raw"]])) > 1e-6
