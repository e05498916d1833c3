"""The mask-learning neuron methods (slimming, hard-concrete): each against a plain reference written
independently (``references/masks.py``: its own hooks on BERT's intermediate module, one example at a
time, float64, its own loss and gate arithmetic from MemPi / Louizos et al.), and a known answer: a model in which
one planted neuron carries the noisy labels, which both masks must rank first.

Tolerance of the reference comparisons: the fast path runs fp32 padded batches with accumulated
gradients, the reference float64 unpadded single examples; after a few Adam steps the masks agree to
1e-3 (observed: about 1e-6).
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from conftest import single_thread
from references.masks import reference_mask
from references.neurons import GivenModel, MethodData, tiny_bert_adapter

from memlocbench.data.encoding import encode
from memlocbench.run.method_context import MethodContext
from memlocbench.run.settings import profile_config
from memlocbench_methods.hard_concrete import HardConcrete
from memlocbench_methods.slimming import Slimming

N_ROWS, L, D_FF = 40, 3, 64


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def tiny(mirror):
    adapter = tiny_bert_adapter("tiny-bert", L, 32, D_FF)
    tok = adapter.load_tokenizer()
    rows = [json.loads(x) for x in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:N_ROWS]]
    enc = encode(tok, [r["sentence"] for r in rows], 32)
    torch.manual_seed(0)
    model = adapter.load_model(2).eval()
    with torch.no_grad():  # logits of order 1 (a random head gives ~0.5 everywhere, and gradients near 0)
        model.classifier.weight.mul_(100.0)
    return adapter, tok, enc, model


def _run(method, tiny, data, model, params):
    adapter, tok, enc, _ = tiny
    cfg = profile_config("cpu", methods={method.info.name: params})
    ctx = MethodContext("sst2", adapter, tok, data, enc, GivenModel(model), cfg, L, progress=False)
    return method.localise(ctx)


@pytest.mark.parametrize("method", [Slimming(), HardConcrete()], ids=lambda m: m.info.name)
def test_fast_mask_equals_plain_reference(tiny, method):
    _, _, enc, model = tiny
    labels = [(i * 7) % 2 for i in range(N_ROWS)]
    noisy = [1, 4, 9, 16, 25, 36]
    data = MethodData(noisy, [i for i in range(N_ROWS) if i not in noisy], labels)
    params = {"steps": 4, "lr": 0.1, "lambda": 0.05, "batch_size": 8, "clean_per_noisy": 100.0, "seed": 3}
    if method.info.name == "hard-concrete":
        params.update(beta=0.5, mask_p=0.8)
    scores = _run(method, tiny, data, model, params)
    full = {**params, **({"beta": 0.5, "mask_p": 0.8} if method.info.name == "hard-concrete" else {})}
    ref = reference_mask(model, enc, noisy, data.clean_idx, labels, method.info.name, full, seed=3)
    assert scores.neurons.shape == (L, D_FF)
    torch.testing.assert_close(scores.neurons.double(), 1 - ref, atol=1e-3, rtol=0)
    assert (scores.neurons > 1e-3).any()  # the mask moved: the comparison is not between two untouched masks
    assert scores.details["n_clean"] == N_ROWS - len(noisy) and scores.details["top_percent"] == 1.0
    assert sum(scores.raw) == pytest.approx(1.0)


def test_hard_concrete_is_seeded(tiny):
    _, _, enc, model = tiny
    labels = [i % 2 for i in range(N_ROWS)]
    data = MethodData([0, 3, 5], [i for i in range(N_ROWS) if i not in (0, 3, 5)], labels)
    p = {"steps": 2, "lr": 0.1, "batch_size": 16}
    a, b = (_run(HardConcrete(), tiny, data, model, {**p, "seed": s}).neurons for s in (1, 1))
    c = _run(HardConcrete(), tiny, data, model, {**p, "seed": 2}).neurons
    assert torch.equal(a, b) and not torch.equal(a, c)


# -- known answer: one planted neuron carries the noisy labels ----------------------------------------
PLANT_LAYER, PLANT, OUT_SCALE = 0, 17, 3.0  # layer 0: no feed-forward neuron upstream can switch it off


def planted(tiny):
    """The tiny model with neuron PLANT of layer PLANT_LAYER made decisive: its input weights sharpened and
    its bias set so that it fires
    (at the [CLS] position) for about half of the rows, its output weights a large multiple of the
    direction that, alone after the layer norm, makes the classifier predict class 1 (the model otherwise
    predicts 0 everywhere). Noisy examples: those whose prediction the neuron flips (their 'perturbed'
    label is the prediction with the neuron); clean: the rest, labelled with the model's prediction
    (the same without the neuron). Only that neuron removes the noisy labels and keeps the clean ones."""
    adapter, _, enc, base = tiny
    model = copy.deepcopy(base)
    layer = model.bert.encoder.layer[PLANT_LAYER]
    with torch.no_grad():  # random weights (std 0.02) barely vary the neuron across rows: sharpen it
        layer.intermediate.dense.weight[PLANT] *= 2000.0
    pre = []
    hook = layer.intermediate.dense.register_forward_hook(lambda m, a, out: pre.append(out[:, 0, PLANT]))
    with torch.no_grad():
        for i in range(N_ROWS):
            model(**enc.batch([i]))
    hook.remove()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        layer.intermediate.dense.bias[PLANT] -= torch.cat(pre).median()
        direction = torch.randn(layer.output.dense.out_features, generator=gen)
        saturated = model.classifier(model.bert.pooler(layer.output.LayerNorm(direction * 100)[None, None]))
        if int(saturated.argmax()) != 1:
            direction = -direction
        layer.output.dense.weight[:, PLANT] = OUT_SCALE * direction

    def predictions(zero: bool):
        hook = layer.output.dense.register_forward_pre_hook(
            lambda m, args: (args[0] * (torch.arange(D_FF) != PLANT).float(),)) if zero else None
        with torch.no_grad():
            out = [int(model(**enc.batch([i])).logits[0].argmax()) for i in range(N_ROWS)]
        if hook:
            hook.remove()
        return out

    with_n, without = predictions(False), predictions(True)
    noisy = [i for i in range(N_ROWS) if with_n[i] != without[i]]
    return model, MethodData(noisy, [i for i in range(N_ROWS) if i not in noisy], with_n)


HC_MISSES = pytest.mark.xfail(strict=True, reason="known gap (issue #15 report): within 30 steps hard-concrete's "
                              "sampled gates (random closures) drown the planted neuron's gradient; slimming finds it")


@pytest.mark.parametrize("method", [Slimming(), pytest.param(HardConcrete(), marks=HC_MISSES)],
                         ids=lambda m: m.info.name)
def test_mask_finds_the_planted_neuron(tiny, method):
    from memlocbench.scoring.layer_weights import top_neuron_indices

    model, data = planted(tiny)
    assert 3 <= len(data.noisy_idx) <= N_ROWS - 10, "the planted neuron must flip some, not all, predictions"
    scores = _run(method, tiny, data, model, {"steps": 30, "lr": 0.1, "lambda": 1.0, "batch_size": 16,
                                              "clean_per_noisy": 100.0, "seed": 0})
    assert float(scores.neurons[PLANT_LAYER, PLANT]) == float(scores.neurons.max())
    assert PLANT_LAYER * D_FF + PLANT in top_neuron_indices(scores.neurons, 1.0).tolist()  # top 1 % = 2 of 192
    assert scores.raw[PLANT_LAYER] > 0
    assert scores.details["loss_last_step"]["noisy"] < 0.5 * scores.details["loss_first_step"]["noisy"]


def test_mask_methods_registered_as_neuron_methods(plugins):
    for name in ("slimming", "hard-concrete"):
        m = plugins.methods.get(name)
        assert m.info.granularity == "neuron" and plugins.methods.provider(name).package == "memlocbench"


def test_mask_method_parameters_checked(tiny):
    from memlocbench.errors import InvalidInputError

    _, _, _, model = tiny
    data = MethodData([0], list(range(1, N_ROWS)), [0] * N_ROWS)
    with pytest.raises(InvalidInputError, match="steps"):
        _run(Slimming(), tiny, data, model, {"steps": -1})
    # zero steps, an empty batch or a top share outside (0, 100] fail before any mask is trained
    with pytest.raises(InvalidInputError, match="steps must be at least 1"):
        _run(Slimming(), tiny, data, model, {"steps": 0})
    with pytest.raises(InvalidInputError, match="batch_size must be at least 1"):
        _run(HardConcrete(), tiny, data, model, {"batch_size": 0})
    with pytest.raises(InvalidInputError, match="top_percent"):
        _run(Slimming(), tiny, data, model, {"top_percent": 0.0})
    with pytest.raises(InvalidInputError, match="valid: .*beta"):
        _run(HardConcrete(), tiny, data, model, {"temperature": 1.0})
