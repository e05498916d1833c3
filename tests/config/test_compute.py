"""Batch plans and precision (memlocbench.config.compute): the default is the paper's sampler exactly;
length grouping keeps every example once per epoch and cuts padding on real SST-2 lengths."""

from __future__ import annotations

import json

import pytest
import torch

from memlocbench.config.compute import autocast, training_batches


def test_random_batches_are_the_paper_sampler():
    idx = list(range(100, 150))
    lengths = {i: i % 7 for i in idx}
    got = training_batches(idx, lengths, 8, torch.Generator().manual_seed(3))
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(3)).tolist()
    assert got == [[idx[i] for i in perm[k : k + 8]] for k in range(0, 50, 8)]


def _padded_tokens(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_on_sst2_lengths(plugins, mirror):
    tok = plugins.models.get("minilm-l6").load_tokenizer()
    rows = [json.loads(x) for x in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:600]]
    lengths = [len(x) for x in tok([r["sentence"] for r in rows], truncation=True, max_length=128)["input_ids"]]
    idx = list(range(600))
    gen = torch.Generator().manual_seed(1)
    epochs = [training_batches(idx, lengths, 16, gen, "length-grouped", 8) for _ in range(2)]
    for plan in epochs:
        assert len(plan) == 38 and sorted(i for b in plan for i in b) == idx  # every example once
        assert sum(len(b) < 16 for b in plan) == 1  # only the very last slice is short
    assert epochs[0] != epochs[1]
    grouped = sum(_padded_tokens(p, lengths) for p in epochs)
    random_ = sum(_padded_tokens(training_batches(idx, lengths, 16, gen), lengths) for _ in range(2))
    assert grouped < 0.75 * random_, (grouped, random_)


def test_bad_compute_settings_are_named():
    with pytest.raises(ValueError, match="'random' or 'length-grouped'"):
        training_batches([1, 2], [3, 4, 5], 1, torch.Generator(), "sorted")
    with pytest.raises(ValueError, match="'fp32' or 'bf16'"):
        autocast(torch.nn.Linear(2, 2), "fp16")


def test_bf16_autocast_changes_matmul_precision_only_when_asked():
    lin = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast(lin, "fp32"):
        assert lin(x).dtype == torch.float32
    with autocast(lin, "bf16"):
        assert lin(x).dtype == torch.bfloat16


def test_compute_settings_validated_by_profile():
    from memlocbench.errors import InvalidInputError
    from memlocbench.config.profiles import build_config

    assert build_config("cpu").compute.is_default()
    fast = build_config("cpu-fast")
    assert (fast.compute.precision, fast.compute.batching, fast.compute.head_only) == (
        "bf16", "length-grouped", "cached-features")
    with pytest.raises(InvalidInputError, match="compute.precision"):
        build_config("cpu", compute={"precision": "fp8"})
