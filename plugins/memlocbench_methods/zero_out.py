"""Zero-out (MemPi's ZERO-OUT, Chang et al. 2024), carried to classification: how much does zeroing one
feed-forward neuron lower the memorising model's log-probability of the perturbed labels?

MemPi zeroes each neuron in turn and records the change of the memorised sequence's loss. Here, for
neuron j of layer l (input feature j of the layer's down-projection, zeroed at every position of
the input), the per-example effect is the drop log p(target | x) - log p(target | x, a_lj = 0), and
the neuron's score is the mean drop over the noisy examples (target: their perturbed label) minus
the mean drop over as many clean examples (target: their label; ``memlocbench.api.neuron_groups``). High = zeroing
it undoes memorisation more than it hurts ordinary fitting.

The effects are exact: every (neuron, example) pair gets its own forward pass above layer l.
*Fast*: one forward pass per batch of examples keeps, per layer, the neurons' activations a and the
sum the layer's post-norm reads (or, for a pre-norm layer, the layer's output). Zeroing neuron j
removes a_j(t) W[:, j] from the down-projection's output at every position t, so layer l's zeroed
output is norm(sum - a_j W_j) (post-norm: BERT; OPT-350m) or output - a_j W_j (pre-norm: OPT-125m,
GPT-NeoX, GPT-Neo; ``ffn_output_norms`` of the adapter says which), computed for ``neuron_chunk``
neurons at once without running layer l again. The batch is repeated ``neuron_chunk`` times, row
block r holding neuron n0 + r zeroed, and only the layers above l and the head run on it. An adapter
without ``ffn_output_norms`` gets the general path: layer l runs again on the repeated batch with a
per-row neuron scale.

Cost: sum over layers of (L - 1 - l) layer passes per neuron and example, 15 x 1536 on MiniLM-L6 (the
general path: 21 x 1536). No exact shortcut exists above the zeroed layer: zeroing a neuron changes
every later layer's input at every position. So the method scores, by default, a seeded sample of
``n_noisy = 3`` noisy examples and as many clean ones, within the issue's budget (the time layer
retraining takes; README, "Neuron-level methods", with the measurements). ``n_noisy = 0`` scores every
noisy example; the result's details say which examples were scored (``scored``, ``all_noisy_scored``).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from memlocbench.api import hookimpl
from memlocbench.api import ffn_projections
from memlocbench.api import layer_output
from memlocbench.api import LayerScores, MethodInfo
from memlocbench.api import (log_probs_from_layer, log_probs_with_scaled_layer, neuron_groups, neuron_output,
                             neuron_params, target_log_probs, weighted_batches)
from memlocbench_methods import minimum_checks

DEFAULTS = {"n_noisy": 3, "neuron_chunk": 16}  # n_noisy: the budget (module docstring); 0 = all. neuron_chunk:
# 16 was fastest on SST-2 (97 s; 8: 103 s, 32: 105 s, 128: 120 s on an idle 2-core machine), same scores


@torch.no_grad()
def zero_out_effects(adapter, model, enc, groups, batch_size: int, neuron_chunk: int,
                     progress: bool = False) -> torch.Tensor:
    """[L, d_ff]: sum over both groups of weight x (log p(target) - log p(target | neuron zeroed))."""
    model.eval()
    projections = ffn_projections(adapter, model)
    L, width = len(projections), projections[0].in_features
    norms = adapter.ffn_output_norms(model) if hasattr(adapter, "ffn_output_norms") else None
    scores = torch.zeros(L, width, dtype=torch.float64)
    batches = list(weighted_batches(enc, groups, batch_size))
    bar = tqdm(total=len(batches) * L, desc="zero-out", disable=not progress, leave=False)
    for chunk, batch, targets, weights in batches:
        b = len(chunk)
        if norms is not None:
            out, captured = _forward_capturing(adapter, model, batch, projections, norms)
        else:
            out, captured = model(**batch, output_hidden_states=True), None
        base = target_log_probs(out.logits, targets)
        for layer in range(L):
            for n0 in range(0, width, neuron_chunk):
                n = min(neuron_chunk, width - n0)
                if captured is not None:
                    zeroed = _log_probs_from_updated_layer(adapter, model, batch, captured[layer], norms[layer],
                                                           projections[layer].weight, layer, n0, n, targets)
                else:
                    scale = torch.ones(n, b, 1, width, device=batch["input_ids"].device, dtype=out.logits.dtype)
                    scale[torch.arange(n), :, 0, torch.arange(n0, n0 + n)] = 0  # block r zeroes neuron n0 + r
                    zeroed = log_probs_with_scaled_layer(adapter, model, batch, out.hidden_states[layer], layer,
                                                         scale.reshape(n * b, 1, width), targets)
                drop = (base.repeat(n) - zeroed).view(n, b).double()
                scores[layer, n0:n0 + n] += (drop * weights).sum(1).cpu()
            bar.update()
    bar.close()
    return scores


def _forward_capturing(adapter, model, batch, projections, norms):
    """One forward pass of the batch, keeping per layer: the down-projection's input (the neurons'
    activations, [b, T, d_ff]) and either the input of its post-norm or the layer's output."""
    captured = [{} for _ in projections]
    handles = []
    layers = adapter.layer_modules(model)
    for layer, proj in enumerate(projections):
        handles.append(proj.register_forward_pre_hook(
            lambda m, args, c=captured[layer]: c.__setitem__("activations", args[0])))
        if norms[layer] is not None:
            handles.append(norms[layer].register_forward_pre_hook(
                lambda m, args, c=captured[layer]: c.__setitem__("sum", args[0])))
        else:
            handles.append(layers[layer].register_forward_hook(
                lambda m, args, output, c=captured[layer]: c.__setitem__("sum", layer_output(output))))
    try:
        out = model(**batch)
    finally:
        for h in handles:
            h.remove()
    return out, captured


def _log_probs_from_updated_layer(adapter, model, batch, captured, norm, weight, layer, n0, n, targets):
    """log p(target) [n*b] with neuron n0 + r of ``layer`` zeroed in row block r, without running the
    layer again: zeroing neuron j removes a_j(t) * W[:, j] from the down-projection's output at every
    position t, so the layer's output is norm(sum - a_j W_j) for a post-norm layer and output - a_j W_j
    otherwise (eval mode: dropout is the identity). The layers above and the head run on it."""
    s = captured["sum"]
    b, T, d = s.shape
    a = captured["activations"].reshape(b, T, -1)[..., n0:n0 + n]
    delta = torch.einsum("btn,dn->nbtd", a, weight[:, n0:n0 + n])
    hidden = s.unsqueeze(0) - delta
    if norm is not None:
        hidden = norm(hidden)
    return log_probs_from_layer(adapter, model, batch, layer + 1, hidden.reshape(n * b, T, d), targets)


class ZeroOut:
    info = MethodInfo(
        name="zero-out",
        description="neurons: drop of the perturbed-label log-prob when each FFN neuron is zeroed (noisy - clean)",
        granularity="neuron",
        suites=("neurons",),
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"neuron_chunk": 1})
    suite_position = 1  # the neuron suite's order: zero-out, activations, integrated gradients, the two masks

    def localise(self, ctx) -> LayerScores:
        p = neuron_params(ctx, self.info.name, DEFAULTS, at_least_one=("neuron_chunk",))
        groups = neuron_groups(ctx, p["seed"], p["n_noisy"])
        model = ctx.models.load("memorising")
        neurons = zero_out_effects(ctx.adapter, model, ctx.train_enc, groups, p["batch_size"], p["neuron_chunk"],
                                   ctx.progress)
        return neuron_output(neurons, p["top_percent"], groups, {
            "checkpoint": "final", "all_noisy_scored": len(groups.noisy) == len(ctx.dataset.noisy_idx),
            "params": p})


@hookimpl
def register_methods(register):
    register(ZeroOut())
