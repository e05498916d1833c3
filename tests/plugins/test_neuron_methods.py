"""The neuron-level methods zero-out, activations and integrated gradients: each fast path (``localise``)
against its plain MemPi-style reference (``references/neurons.py``: one example, one neuron, one step at a
time, its own hooks), then the pipeline and the CLI (``--method neurons``), the neuron tensor through the
store, and bad parameters.

The reference comparisons run on a tiny BERT (3 layers, 32 wide, 64 neurons per layer, dropout 0)
with MiniLM's tokenizer, fitted briefly to 24 SST-2 rows with 6 flipped labels; the fast paths run
with small batches (so examples of different lengths share padded batches) and, for zero-out, a neuron
chunk that does not divide the layer width. Tolerance: 1e-4 of each tensor's largest entry (fp32
arithmetic in a different order; the references accumulate in float64); zero-out 1e-3 (see
``ZERO_OUT_TOLERANCE``).
"""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from conftest import TINY, single_thread
from memlocbench import hookimpl
from memlocbench.data.encoding import encode
from memlocbench.errors import InvalidInputError
from memlocbench.scoring.layer_weights import mcog, neuron_layer_shares, normalise
from memlocbench.run.method_context import MethodContext
from memlocbench.registry import Provider, load_plugins
from memlocbench.run.settings import profile_config
from memlocbench.results.run_result import Result
from memlocbench_methods.activations import Activations
from memlocbench_methods.integrated_gradients import IntegratedGradients
from memlocbench_methods.zero_out import ZeroOut
from references.neurons import (GivenModel, MethodData, activations_reference, clean_sample,
                                integrated_gradients_reference, tiny_bert_adapter, zero_out_reference)

N_ROWS, N_NOISY, L, D_FF, SEED = 24, 6, 3, 64, 1
# a zero-out effect is a difference of two nearly equal log-probs, each from an fp32 forward pass (batched and
# padded on one side, alone on the other): about 1e-7 apart, against effects of 1e-4 on this tiny model
ZERO_OUT_TOLERANCE = 1e-3
MINE = ("zero-out", "activations", "integrated-gradients")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


def _tiny_adapter(name="tiny-bert"):
    return tiny_bert_adapter(name, L, 32, D_FF)


@pytest.fixture(scope="module")
def tiny(mirror):
    adapter = _tiny_adapter()
    tok = adapter.load_tokenizer()
    rows = [json.loads(x) for x in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:N_ROWS]]
    noisy = sorted(random.Random(5).sample(range(N_ROWS), N_NOISY))
    labels = [1 - r["label"] if i in noisy else r["label"] for i, r in enumerate(rows)]
    enc = encode(tok, [r["sentence"] for r in rows], 32)
    assert len({len(x) for x in enc.ids}) > 3  # lengths differ: batches are padded
    torch.manual_seed(0)
    model = adapter.load_model(2)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(8):
        loss = F.cross_entropy(model(**enc.batch(list(range(N_ROWS)))).logits, torch.tensor(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    data = MethodData(noisy, [i for i in range(N_ROWS) if i not in noisy], labels)
    return adapter, tok, enc, data, model


def _run(tiny, method, params):
    adapter, tok, enc, data, model = tiny
    cfg = profile_config("cpu", train={"seed": SEED}, methods={method.info.name: params})
    ctx = MethodContext("sst2", adapter, tok, data, enc, GivenModel(model), cfg, L, progress=False)
    return method.localise(ctx)


def _groups(data):
    return data.noisy_idx, clean_sample(data.clean_idx, len(data.noisy_idx), SEED)


def _close(fast, reference, tolerance=1e-4):
    assert fast.shape == reference.shape == (L, D_FF)
    scale = float(reference.abs().max())
    assert scale > 1e-4, "the reference must measure something"
    torch.testing.assert_close(fast.double(), reference, rtol=0, atol=tolerance * scale)


def _check_output(out, top_percent, n_noisy):
    assert out.neurons.dtype == torch.float32
    assert out.raw == neuron_layer_shares(out.neurons, top_percent)
    assert out.details["top_percent"] == top_percent and out.details["d_ff"] == D_FF
    assert out.details["n_noisy"] == out.details["n_clean"] == n_noisy
    json.dumps(out.details)


def test_zero_out_equals_the_one_neuron_at_a_time_reference(tiny):
    _, _, enc, data, model = tiny
    out = _run(tiny, ZeroOut(), {"n_noisy": 0, "batch_size": 4, "neuron_chunk": 24, "top_percent": 5.0})
    noisy, clean = _groups(data)
    _close(out.neurons, zero_out_reference(model, enc, data.noisy_labels, noisy, clean), ZERO_OUT_TOLERANCE)
    _check_output(out, 5.0, N_NOISY)
    assert out.details["all_noisy_scored"] and out.details["scored"] == {"noisy": noisy, "clean": clean}


def test_zero_out_on_a_sample_of_noisy_examples_says_which(tiny):
    _, _, enc, data, model = tiny
    out = _run(tiny, ZeroOut(), {"n_noisy": 2, "batch_size": 3, "neuron_chunk": 64})
    noisy = sorted(random.Random(SEED).sample(data.noisy_idx, 2))
    clean = clean_sample(data.clean_idx, 2, SEED)
    assert out.details["scored"] == {"noisy": noisy, "clean": clean} and not out.details["all_noisy_scored"]
    _close(out.neurons, zero_out_reference(model, enc, data.noisy_labels, noisy, clean), ZERO_OUT_TOLERANCE)


def test_activations_equal_the_one_example_at_a_time_reference(tiny):
    _, _, enc, data, model = tiny
    out = _run(tiny, Activations(), {"batch_size": 5})
    _close(out.neurons, activations_reference(model, enc, *_groups(data)))
    _check_output(out, 1.0, N_NOISY)


def test_integrated_gradients_equal_the_one_step_at_a_time_reference(tiny):
    _, _, enc, data, model = tiny
    out = _run(tiny, IntegratedGradients(), {"batch_size": 4, "steps": 5})
    _close(out.neurons, integrated_gradients_reference(model, enc, data.noisy_labels, *_groups(data), steps=5))
    _check_output(out, 1.0, N_NOISY)
    # more steps approach the integral: completeness, sum over a layer's neurons of the attribution =
    # log p(target) - log p(target | layer zeroed), here on the noisy - clean contrast
    fine = _run(tiny, IntegratedGradients(), {"batch_size": 8, "steps": 64}).neurons.double()
    zero_layer = _layer_zeroed_contrast(tiny)
    assert torch.allclose(fine.sum(1), zero_layer, rtol=0.05, atol=0.02 * float(zero_layer.abs().max()))


def _layer_zeroed_contrast(tiny):
    """noisy mean - clean mean of log p(target) - log p(target | all of layer l's neurons zeroed)."""
    _, _, enc, data, model = tiny
    noisy, clean = _groups(data)
    out = torch.zeros(L, dtype=torch.float64)
    with torch.no_grad():
        for layer in range(L):
            proj = model.bert.encoder.layer[layer].output.dense
            for group, sign in ((noisy, 1.0), (clean, -1.0)):
                for i in group:
                    batch = enc.batch([i])
                    base = F.log_softmax(model(**batch).logits[0].double(), -1)[data.noisy_labels[i]]
                    h = proj.register_forward_pre_hook(lambda m, a: (a[0] * 0,))
                    zeroed = F.log_softmax(model(**batch).logits[0].double(), -1)[data.noisy_labels[i]]
                    h.remove()
                    out[layer] += sign * (base - zeroed) / len(group)
    return out


@pytest.mark.parametrize("method,params,problem", [
    (ZeroOut(), {"top_percent": 0}, "top_percent"),
    (ZeroOut(), {"neuron_chunk": 0}, "neuron_chunk"),
    (IntegratedGradients(), {"steps": 0}, "steps"),
    (Activations(), {"top_percent": 101.0}, "top_percent"),
    (Activations(), {"topk": 1}, "no parameter"),
    (IntegratedGradients(), {"batch_size": 0}, "batch_size"),
])
def test_bad_parameters_fail_before_any_work(tiny, method, params, problem):
    adapter, tok, enc, data, _ = tiny

    class _NoModels:
        def load(self, *a, **k):
            raise AssertionError("a model was loaded before the parameters were checked")

    cfg = profile_config("cpu", methods={method.info.name: params})
    ctx = MethodContext("sst2", adapter, tok, data, enc, _NoModels(), cfg, L, progress=False)
    with pytest.raises(InvalidInputError, match=problem):
        method.localise(ctx)


# -- pipeline and CLI ----------------------------------------------------------------------------------
class _TinyModel:
    @hookimpl
    def register_models(self, register):
        register(_tiny_adapter())


def _tiny_plugins():
    return load_plugins(extra=[(_TinyModel(), Provider("tests", "0"))])


def test_cli_method_neurons_runs_and_the_second_run_comes_from_the_store(mirror, tmp_path, monkeypatch):
    from memlocbench.api import suite_members
    from memlocbench.cli import app, main
    from memlocbench.cli.options import run_config
    from memlocbench.run import method_run as pipeline
    from memlocbench.store import ArtefactStore

    plugins = _tiny_plugins()
    neurons = suite_members(plugins, "neurons")  # the methods that declare the suite, in suite order
    assert neurons == ["zero-out", "activations", "integrated-gradients", "slimming", "hard-concrete"]
    assert set(MINE) <= set(neurons)
    for name in neurons:
        assert plugins.methods.get(name).info.granularity == "neuron"
    monkeypatch.setattr(app, "cli_plugins", _tiny_plugins)
    out, cache = tmp_path / "results", tmp_path / "cache"
    args = ["run", "--method", "neurons", "--model", "tiny-bert", "--task", "sst2", "--train-size", "48",
            "--epochs", "1", "--batch-size", "8", "--max-length", "32", "--data-dir", str(mirror),
            "--out", str(out), "--cache-dir", str(cache), "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    for name in neurons:
        assert f"{name} on sst2, tiny-bert: M-CoG = " in res.output
    results = {r.method.name: r for r in map(_result, _result_files(out))}
    assert set(results) == set(neurons)
    for r in results.values():
        assert r.num_layers == L and r.mcog == pytest.approx(mcog(normalise(r.raw_weights)))
        assert not r.cached["method"]
        if r.method.name in MINE:  # slimming and hard-concrete record top_percent only
            assert r.details["top_neurons"] == round(L * D_FF / 100)

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    for r in map(_result, _result_files(out)):
        assert r.cached["method"] and r.layer_weights == results[r.method.name].layer_weights

    # the stored tensor is the one the method computes: load it through the pipeline, recompute directly
    req = pipeline.RunRequest(task="sst2", model="tiny-bert", methods=["zero-out"], data_dir=mirror,
                              config=run_config(plugins, "cpu", 48, 1, None, 8, 32, None, None).with_seed(1),
                              out_dir=out, store=ArtefactStore(cache), progress=False)
    prep = pipeline.prepare(plugins, req)
    stored, cached = pipeline.layer_scores(req, prep, prep.models, plugins.methods.get("zero-out"))
    assert cached and stored.neurons.shape == (L, D_FF)
    ctx = MethodContext("sst2", prep.adapter, prep.tokenizer, prep.dataset, prep.train_enc, prep.models,
                        req.config, L, progress=False)
    assert torch.equal(stored.neurons, ZeroOut().localise(ctx).neurons)


def _result_files(folder):
    return [p for p in sorted(folder.glob("*.json")) if not p.name.endswith(".summary.json")]


def _result(path):
    return Result.model_validate(json.loads(path.read_text()))


def test_cli_rejects_an_unknown_method_before_any_work(tmp_path):
    from memlocbench.cli import main

    res = CliRunner().invoke(main, ["run", "--method", "zero-outt", "--task", "sst2", "--out", str(tmp_path / "o"),
                                        "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 2 and "zero-out" in res.output and not (tmp_path / "c").exists()


@pytest.mark.slow
def test_cli_activations_on_minilm(mirror, tmp_path, session_store):
    """The embedded default MiniLM-L6 end to end through the CLI (TINY settings)."""
    from memlocbench.cli import main

    args = ["run", "--method", "activations", "--task", "sst2", "--train-size", str(TINY["data"]["train_size"]),
            "--epochs", str(TINY["train"]["epochs"]), "--batch-size", str(TINY["train"]["batch_size"]),
            "--max-length", str(TINY["data"]["max_length"]), "--data-dir", str(mirror), "--out", str(tmp_path),
            "--cache-dir", str(session_store.root), "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    (r,) = map(_result, tmp_path.glob("*activations*.json"))
    assert "activations on sst2, minilm-l6: M-CoG = " in res.output
    assert r.num_layers == 6 and r.details["d_ff"] == 1536 and r.details["top_neurons"] == 92
    assert sum(r.raw_weights) == pytest.approx(1.0) and r.details["n_noisy"] == r.sizes["n_noisy"]


# -- the decoder families ------------------------------------------------------------------------------
from tiny_models import tiny_adapter as _family_adapter  # noqa: E402
from tiny_models import tokenizer_dirs  # noqa: E402,F401  (fixture)


@pytest.mark.parametrize("arch", ["opt", "gpt-neox", "gpt-neo"])
def test_fast_paths_equal_the_references_on_decoders(tokenizer_dirs, mirror, arch):  # noqa: F811
    """Every family: the neurons are the adapter's ffn_projections inputs (decoders pool the last
    token; OPT projects its embeddings in and out); random tiny models, 16 SST-2 rows."""
    adapter = _family_adapter(arch, tokenizer_dirs)
    tok = adapter.load_tokenizer()
    rows = [json.loads(x) for x in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:16]]
    enc = encode(tok, [r["sentence"] for r in rows], 32)
    torch.manual_seed(3)
    model = adapter.load_model(2).eval()
    noisy = [1, 4, 9]
    labels = [1 - r["label"] if i in noisy else r["label"] for i, r in enumerate(rows)]
    data = MethodData(noisy, [i for i in range(16) if i not in noisy], labels)
    layers = len(adapter.layer_modules(model))
    projections = adapter.ffn_projections(model)
    clean = clean_sample(data.clean_idx, len(noisy), SEED)

    def fast(method, params):
        cfg = profile_config("cpu", train={"seed": SEED}, methods={method.info.name: params})
        ctx = MethodContext("sst2", adapter, tok, data, enc, GivenModel(model), cfg, layers, progress=False)
        return method.localise(ctx).neurons.double()

    def close(a, b, tolerance):
        assert b.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=0, atol=tolerance * float(b.abs().max()))

    close(fast(ZeroOut(), {"n_noisy": 0, "batch_size": 4, "neuron_chunk": 40}),
          zero_out_reference(model, enc, labels, noisy, clean, projections), ZERO_OUT_TOLERANCE)
    close(fast(Activations(), {"batch_size": 4}), activations_reference(model, enc, noisy, clean, projections), 1e-4)
    close(fast(IntegratedGradients(), {"batch_size": 4, "steps": 3}),
          integrated_gradients_reference(model, enc, labels, noisy, clean, 3, projections), 1e-4)


class _WithoutNorms:
    """The same adapter without ``ffn_output_norms``: zero-out then runs each zeroed layer again."""

    def __init__(self, adapter):
        self._adapter = adapter

    def __getattr__(self, name):
        if name == "ffn_output_norms":
            raise AttributeError(name)
        return getattr(self._adapter, name)


@pytest.mark.parametrize("arch,change", [
    ("bert", {}), ("opt", {}), ("opt", {"do_layer_norm_before": False}), ("gpt-neox", {}),
    ("gpt-neox", {"use_parallel_residual": False}), ("gpt-neo", {})],
    ids=["bert", "opt-pre-norm", "opt-post-norm", "gpt-neox-parallel", "gpt-neox-serial", "gpt-neo"])
def test_zero_out_layer_update_equals_running_the_layer_again(tokenizer_dirs, mirror, monkeypatch, arch,  # noqa: F811
                                                              change):
    """Zero-out's shortcut (the zeroed layer's output = norm(sum - a_j W_j), or output - a_j W_j for a
    pre-norm layer, from one pass of the layer) against running the zeroed layer again, per family and
    norm placement (OPT-350m is post-norm, GPT-NeoX has a serial variant). The shortcut must be taken."""
    import memlocbench_methods.zero_out as zero_out_module
    from memlocbench.api import NeuronGroups

    adapter = _family_adapter(arch, tokenizer_dirs)
    for key, value in change.items():
        setattr(adapter._config, key, value)
    tok = adapter.load_tokenizer()
    rows = [json.loads(x) for x in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:12]]
    enc = encode(tok, [r["sentence"] for r in rows], 32)
    torch.manual_seed(5)
    model = adapter.load_model(2).eval()
    assert all(getattr(model.config, key) == value for key, value in change.items())
    groups = NeuronGroups([1, 4, 7], [0, 2, 3], [1 - r["label"] if i in (1, 4, 7) else r["label"]
                                                       for i, r in enumerate(rows)])
    slow = zero_out_module.zero_out_effects(_WithoutNorms(adapter), model, enc, groups, 4, 16)

    def refuse(*args, **kwargs):
        raise AssertionError("the shortcut was not taken")

    monkeypatch.setattr(zero_out_module, "log_probs_with_scaled_layer", refuse)
    fast = zero_out_module.zero_out_effects(adapter, model, enc, groups, 4, 16)
    assert slow.abs().max() > 0
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-3 * float(slow.abs().max()))
