"""The engine of the two mask-learning neuron methods (``slimming``, ``hard_concrete``): learn a mask
over the memorising model's feed-forward neurons that removes the memorisation of the noisy labels
while the clean examples keep theirs, with a sparsity penalty on what is removed.

MemPi (Chang et al., NAACL 2024) learns, on a memorised sequence, a mask that *keeps* the sequence's
likelihood with as few neurons as possible (LM loss + lambda * ||m||_1, masks start at 1) and ranks
neurons by the mask. On a classifier that objective has no contrast: the neurons it keeps are those any
prediction needs. We carry it to classification as the issue asks, with the contrast in the loss:
the mask (per neuron, in [0, 1], starting at 1: the model unchanged) minimises

    mean over noisy examples of  -log(1 - p(perturbed label | x; m))   (memorisation drops; bounded,
                                                                        unlike -log p, which a model
                                                                        could drive to -inf)
  + mean over clean examples of  -log p(label | x; m)                  (clean examples keep their label)
  + lambda * (penalty on the removed part 1 - m)                       (few neurons removed)

and a neuron's attribution is how far it was removed: 1 - (deterministic mask). Model weights are frozen
(the memorising model, final weights, eval mode); only the mask learns (Adam, MemPi's optimiser). The
clean examples are ``memlocbench.api.clean_sample``: ``clean_per_noisy`` x |noisy| of them, seeded.

Batched: one optimiser step is one full pass over the noisy examples and the clean sample, in
length-sorted batches of ``batch_size`` with the gradient accumulated (MemPi feeds its one sequence as
one batch); the mask (and, for hard-concrete, its noise) is drawn once per step, so the step's gradient
is exactly that of the whole-set loss. Noise comes from a ``torch.Generator`` seeded with the method's
seed: one uniform [L, d_ff] draw per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from memlocbench.api import neuron_layer_shares
from memlocbench.api import ffn_shape, scaled_neurons
from memlocbench.api import LayerScores
from memlocbench.api import clean_sample, neuron_params

#: parameters shared by both methods (each adds its own)
COMMON_DEFAULTS = {"steps": 20, "lr": 0.05, "lambda": 1.0, "batch_size": 48, "clean_per_noisy": 1.0,
                   "seed": None, "top_percent": 1.0}


class Mask(Protocol):
    """A learnable mask over [L, d_ff] neurons."""

    def parameters(self) -> list[torch.Tensor]: ...

    def noise(self, generator: torch.Generator) -> torch.Tensor | None: ...  # one draw per step, or None

    def train_mask(self, noise: torch.Tensor | None) -> torch.Tensor: ...  # [L, d_ff] in [0, 1], differentiable

    def penalty(self) -> torch.Tensor: ...  # scalar: the sparsity penalty on the removed part

    def project(self) -> None: ...  # after each optimiser step: back into the parameters' valid set

    def final_mask(self) -> torch.Tensor: ...  # [L, d_ff] in [0, 1], deterministic


def memorisation_loss(logits: torch.Tensor, labels: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Per example: -log(1 - p(label)) where ``noisy`` (the perturbed label should lose its probability),
    -log p(label) elsewhere (clean examples keep theirs)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(1, labels[:, None]).squeeze(1)
    others = logp.masked_fill(F.one_hot(labels, logp.shape[-1]).bool(), float("-inf")).logsumexp(-1)  # log(1 - p)
    return torch.where(noisy, -others, -picked)


@dataclass
class MaskRun:
    mask: torch.Tensor  # the final deterministic mask, [L, d_ff]
    history: list[dict]  # per step: noisy term, clean term, penalty


def learn_mask(adapter, model, enc, noisy: list[int], clean: list[int], labels: list[int], mask: Mask,
               p: dict, seed: int) -> MaskRun:
    """Train ``mask`` on the frozen ``model`` with the objective of the module docstring."""
    model.eval()
    for q in model.parameters():
        q.requires_grad_(False)
    device = next(model.parameters()).device
    is_noisy = {i: True for i in noisy} | {i: False for i in clean}
    weight = {i: 1.0 / len(noisy) for i in noisy} | {i: 1.0 / len(clean) for i in clean}
    batches = [(torch.tensor([labels[i] for i in chunk], device=device),
                torch.tensor([is_noisy[i] for i in chunk], device=device),
                torch.tensor([weight[i] for i in chunk], device=device), batch)
               for chunk, batch in enc.eval_batches(list(is_noisy), p["batch_size"])]
    optimiser = torch.optim.Adam(mask.parameters(), lr=p["lr"])
    generator = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(p["steps"]):
        optimiser.zero_grad()
        noise = mask.noise(generator)
        terms = torch.zeros(2, device=device)
        for y, nz, w, batch in batches:
            with scaled_neurons(adapter, model, mask.train_mask(noise)):
                per_example = memorisation_loss(model(**batch).logits, y, nz) * w
            per_example.sum().backward()
            terms += torch.stack([per_example[nz].sum(), per_example[~nz].sum()]).detach()
        penalty = mask.penalty()
        (p["lambda"] * penalty).backward()
        optimiser.step()
        mask.project()
        history.append({"noisy": float(terms[0]), "clean": float(terms[1]), "penalty": float(penalty.detach())})
    return MaskRun(mask.final_mask().detach(), history)


def localise_with_mask(ctx, name: str, defaults: dict, make_mask) -> LayerScores:
    """A mask method's ``localise``: the memorising model (final weights), the noisy examples with
    their perturbed labels against the seeded clean sample, ``make_mask(L, d_ff, params, device)``;
    neuron attribution = 1 - final mask; layer weights = the top ``top_percent`` % neurons' layer shares."""
    p = neuron_params(ctx, name, defaults, at_least_one=("steps",))  # checked before any work
    seed = ctx.config.train.seed if p["seed"] is None else p["seed"]
    d = ctx.dataset
    noisy = list(d.noisy_idx)
    clean = clean_sample(d.clean_idx, max(1, round(p["clean_per_noisy"] * len(noisy))), seed)
    model = ctx.models.load("memorising")
    num_layers, width = ffn_shape(ctx.adapter, model)
    mask = make_mask(num_layers, width, p, next(model.parameters()).device)
    run = learn_mask(ctx.adapter, model, ctx.train_enc, noisy, clean, d.noisy_labels, mask, p, seed)
    neurons = (1.0 - run.mask).float().cpu()
    first, last = run.history[0], run.history[-1]
    return LayerScores(raw=neuron_layer_shares(neurons, p["top_percent"]), neurons=neurons, details={
        "top_percent": p["top_percent"], "params": p, "seed": seed, "n_noisy": len(noisy), "n_clean": len(clean),
        "objective": "mean -log(1 - p(perturbed)) on noisy + mean -log p(label) on clean + lambda * penalty",
        "loss_first_step": first, "loss_last_step": last,
        "removed_fraction": float((run.mask < 0.5).float().mean()),
        "removed_per_layer": [float(x) for x in (run.mask < 0.5).float().mean(1)],
    })
