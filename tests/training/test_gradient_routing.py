"""Gradient routing (issue 31): the routed examples' gradient reaches only the route's parameters (and,
for a masked parameter, only its masked-in entries); the other examples train everything; with a route
over every parameter the gradients equal the unrouted loop's."""

from __future__ import annotations

import random

import pytest
import torch

from memlocbench.config.profiles import ComputeConfig, TrainConfig
from memlocbench.data.encoding import encode
from memlocbench.training.trainer import Route, TrainingLoop
from tiny_models import tiny_bert

TEXTS = [f"example number {i} says {'good' if i % 2 else 'bad'} things" for i in range(16)]
LABELS = [i % 2 for i in range(16)]
ROUTED = frozenset({1, 4, 6, 11})


@pytest.fixture(scope="module")
def adapter():
    return tiny_bert("tiny-routed")


def _loop(adapter, route=None, seed=3):
    torch.manual_seed(seed)
    model = adapter.load_model(2)
    enc = encode(adapter.load_tokenizer(), TEXTS, 24)
    trainable = [n for n, _ in model.named_parameters() if adapter.parameter_group(n) != "embeddings"]
    cfg = TrainConfig(epochs=1, learning_rate=1e-3, batch_size=8, seed=seed)
    return TrainingLoop(model, trainable, enc, LABELS, cfg, ComputeConfig(), 1, route=route), trainable


def _placed(adapter, model, layers):
    return frozenset(n for n, _ in model.named_parameters()
                     if adapter.parameter_group(n) == "head" or adapter.parameter_group(n) in layers)


def test_routed_examples_reach_only_the_placed_layers_and_the_head(adapter):
    loop, trainable = _loop(adapter)
    placed = _placed(adapter, loop.model, {1})
    loop, _ = _loop(adapter, Route(ROUTED, placed))
    loop.model.eval()
    loop.optim.zero_grad(set_to_none=True)
    loop._routed_backward(sorted(ROUTED))  # only routed examples in the batch
    reached = {n for n in trainable if loop.named[n].grad is not None and loop.named[n].grad.abs().sum() > 0}
    assert reached and reached <= placed
    assert any(adapter.parameter_group(n) == 1 for n in reached)
    assert all(loop.named[n].grad is None for n in trainable if n not in placed)  # exactly zero: never written


def test_a_routed_only_step_leaves_every_other_weight_bit_identical(adapter):
    probe, _ = _loop(adapter)
    placed = _placed(adapter, probe.model, {0, 2})
    loop, trainable = _loop(adapter, Route(ROUTED, placed))
    before = {n: loop.named[n].detach().clone() for n in trainable}
    loop.step("main", sorted(ROUTED), epoch=1, step=1)
    changed = {n for n in trainable if not torch.equal(before[n], loop.named[n])}
    assert changed and changed <= placed
    # a batch with clean examples moves the other layers too
    loop.step("main", [0, 1, 2, 3], epoch=1, step=2)
    assert {n for n in trainable if not torch.equal(before[n], loop.named[n])} - placed


def test_masks_keep_the_routed_gradient_to_the_planted_columns(adapter):
    probe, _ = _loop(adapter)
    ffn = {f"bert.encoder.layer.{layer}.output.dense.weight" for layer in range(3)}
    head = {n for n in probe.named if adapter.parameter_group(n) == "head"}
    masks = {}
    for n in ffn:
        m = torch.zeros(1, 64)
        m[0, random.Random(n).sample(range(64), 3)] = 1
        masks[n] = m
    loop, trainable = _loop(adapter, Route(ROUTED, frozenset(ffn | head), masks))
    loop.model.eval()
    loop.optim.zero_grad(set_to_none=True)
    loop._routed_backward(sorted(ROUTED))
    for n in ffn:
        g = loop.named[n].grad
        assert g is not None and torch.all(g[:, masks[n][0] == 0] == 0) and g[:, masks[n][0] == 1].abs().sum() > 0
    assert all(loop.named[n].grad is None for n in trainable if n not in ffn | head)


def test_a_route_over_everything_gives_the_unrouted_gradient(adapter):
    plain, trainable = _loop(adapter)
    routed, _ = _loop(adapter, Route(ROUTED, frozenset(trainable)))
    chunk = [0, 1, 2, 4, 6, 9, 11, 13]
    for loop in (plain, routed):
        loop.model.eval()  # no dropout: the two forward passes equal the one
        loop.optim.zero_grad(set_to_none=True)
    plain._main_loss(chunk).backward()
    routed._routed_backward(chunk)
    for n in trainable:
        assert torch.allclose(plain.named[n].grad, routed.named[n].grad, atol=1e-6, rtol=1e-4), n


def test_a_route_naming_an_untrained_parameter_is_refused(adapter):
    with pytest.raises(ValueError, match="route names parameters the main task does not train"):
        _loop(adapter, Route(ROUTED, frozenset({"bert.embeddings.word_embeddings.weight"})))


def test_a_routed_weight_scales_only_the_routed_examples_gradient(adapter):
    probe, _ = _loop(adapter)
    placed = _placed(adapter, probe.model, {1})
    batch = [0, 1, 2, 3, 4, 5, 6, 7]  # routed examples 1, 4, 6 and five others
    grads = {}
    for weight in (1.0, 3.0):
        loop, trainable = _loop(adapter, Route(ROUTED, placed, weight=weight))
        loop.model.eval()
        loop.optim.zero_grad(set_to_none=True)
        loss = loop._routed_backward(batch)
        grads[weight] = ({n: loop.named[n].grad.clone() for n in trainable if loop.named[n].grad is not None}, loss)
        # the routed part alone
        loop.optim.zero_grad(set_to_none=True)
        loop._routed_backward([i for i in batch if i in ROUTED])
        grads[weight, "routed"] = {n: loop.named[n].grad.clone() for n in trainable if loop.named[n].grad is not None}
    (g1, loss1), (g3, loss3) = grads[1.0], grads[3.0]
    assert torch.allclose(loss1, loss3)  # the reported loss is the unweighted one
    outside = [n for n in g1 if n not in placed]
    assert outside and all(torch.equal(g1[n], g3[n]) for n in outside)  # the others' gradient is untouched
    r1, r3 = grads[1.0, "routed"], grads[3.0, "routed"]
    assert set(r1) <= placed and all(torch.allclose(r3[n], 3 * r1[n], rtol=1e-4, atol=1e-9) for n in r1)


def test_two_routes_send_each_set_of_examples_to_its_own_layers(adapter):
    """The routed layer tracks' two routes: the noisy examples to the placement (layer 1 and the head),
    the decoy rows to the other layers (0, 2 and the head); a batch of both moves no parameter outside
    its route's, and the layers' gradients are each route's alone."""
    probe, trainable = _loop(adapter)
    placed, others = _placed(adapter, probe.model, {1}), _placed(adapter, probe.model, {0, 2})
    decoys = frozenset({2, 9, 13})
    loop, _ = _loop(adapter, (Route(ROUTED, placed), Route(decoys, others)))
    loop.model.eval()
    for chunk, allowed in ((sorted(ROUTED), placed), (sorted(decoys), others)):
        loop.optim.zero_grad(set_to_none=True)
        loop._routed_backward(chunk)
        reached = {n for n in trainable if loop.named[n].grad is not None and loop.named[n].grad.abs().sum() > 0}
        assert reached and reached <= allowed, chunk
        assert all(loop.named[n].grad is None for n in trainable if n not in allowed)
    # one batch of both: layer 1 gets exactly the noisy examples' gradient, layers 0 and 2 the decoys'
    mixed = sorted(ROUTED | decoys)
    loop.optim.zero_grad(set_to_none=True)
    loop._routed_backward(mixed)
    both = {n: loop.named[n].grad.clone() for n in trainable if loop.named[n].grad is not None}
    loop.optim.zero_grad(set_to_none=True)
    loop._routed_backward(sorted(ROUTED))
    layer1 = [n for n in placed if adapter.parameter_group(n) == 1]
    share = len(ROUTED) / len(mixed)  # the loss is the batch mean: the noisy part weighs its share
    assert all(torch.allclose(both[n], loop.named[n].grad * share, rtol=1e-4, atol=1e-9) for n in layer1)
    assert set(both) <= placed | others


def test_routes_that_share_an_example_are_refused(adapter):
    probe, trainable = _loop(adapter)
    with pytest.raises(ValueError, match=r"example\(s\) \[4\] are in two routes"):
        _loop(adapter, (Route(ROUTED, frozenset(trainable)), Route(frozenset({4, 5}), frozenset(trainable))))


def _planted_route(adapter, model, lr_scale):
    ffn = {f"bert.encoder.layer.{layer}.output.dense.weight" for layer in range(3)}
    head = {n for n, _ in model.named_parameters() if adapter.parameter_group(n) == "head"}
    masks = {}
    for n in ffn:
        m = torch.zeros(1, 64)
        m[0, random.Random(n).sample(range(64), 3)] = 1
        masks[n] = m
    return Route(ROUTED, frozenset(ffn | head), masks, lr_scale=lr_scale), masks


def test_a_route_lr_scale_multiplies_the_step_of_its_masked_entries_only(adapter):
    probe, _ = _loop(adapter)
    steps = {}
    for scale in (1.0, 3.0):
        route, masks = _planted_route(adapter, probe.model, scale)
        loop, trainable = _loop(adapter, route)
        before = {n: loop.named[n].detach().clone() for n in trainable}
        loop.step("main", [0, 1, 2, 3, 4, 6, 9, 11], epoch=1, step=1)  # clean and routed examples together
        steps[scale] = {n: loop.named[n].detach() - before[n] for n in trainable}
    for n in trainable:
        one, three = steps[1.0][n], steps[3.0][n]
        if n in masks:
            on = masks[n].expand_as(one).bool()
            assert one[on].abs().sum() > 0
            assert torch.allclose(three[on], 3 * one[on], atol=1e-7, rtol=1e-4), n
            assert torch.equal(three[~on], one[~on]), n
        else:
            assert torch.equal(three, one), n


def test_a_route_lr_scale_without_masks_is_refused(adapter):
    probe, trainable = _loop(adapter)
    with pytest.raises(ValueError, match="lr_scale applies to its masked entries"):
        _loop(adapter, Route(ROUTED, frozenset(trainable), lr_scale=2.0))
    with pytest.raises(ValueError, match="lr_scale must be a positive finite number"):
        _loop(adapter, _planted_route(adapter, probe.model, float("nan"))[0])
