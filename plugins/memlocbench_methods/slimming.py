"""Slimming (MemPi, Chang et al., NAACL 2024, carried to classification): a real-valued mask
m in [0, 1]^{L x d_ff} on the memorising model's feed-forward activations, learnt with an L1 penalty.

The mask is a parameter per neuron, started at 1 and kept in [0, 1] by projection after every Adam step
(MemPi clips it in the forward pass, ``torch.clip(slim_coef, 0, 1)``; with our penalty pushing masks up,
a clipped mask above 1 would lose its gradient for good after the first step, a projected one keeps
it); the penalty is the L1 norm of the removed part, mean(1 - m),
over all L x d_ff neurons (MemPi: ||m||_1 / N on the kept part; ours penalises removal, because our
objective removes memorisation, see ``mask_learning``). The objective, batching, seeding and clean
contrast are ``mask_learning``'s. Attribution of a neuron: 1 - clip(m) (how far it was removed);
neurons never moved tie at 0 and, in the top-k share, go to the lower flat index. Attribution
1 - clip(m) with m the projected mask.

Parameters (``--param slimming.NAME=V``): steps (Adam steps, each a full pass over noisy + clean
sample), lr, lambda (weight of the penalty), batch_size, clean_per_noisy, seed (default: the model
seed), top_percent (the layer profile's top k %). Defaults fit the budget of the issue (README,
"Slimming, hard-concrete and the ablation track").
"""

from __future__ import annotations

import torch

from memlocbench.api import hookimpl
from memlocbench.api import LayerScores, MethodInfo
from memlocbench_methods.mask_learning import COMMON_DEFAULTS, localise_with_mask
from memlocbench_methods import minimum_checks

DEFAULTS = dict(COMMON_DEFAULTS)


class SlimMask:
    def __init__(self, num_layers: int, width: int, device=None):
        self.m = torch.ones(num_layers, width, device=device, requires_grad=True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.m]

    def noise(self, generator):
        return None

    def train_mask(self, noise) -> torch.Tensor:
        return self.m

    def penalty(self) -> torch.Tensor:
        return (1.0 - self.m).mean()

    def project(self) -> None:
        with torch.no_grad():
            self.m.clamp_(0.0, 1.0)

    def final_mask(self) -> torch.Tensor:
        return self.m.detach().clamp(0.0, 1.0)


class Slimming:
    info = MethodInfo(
        name="slimming",
        description="neurons removed by a [0,1] mask (L1) learnt to forget the noisy labels and keep the clean "
                    "ones; layer weights = layer shares of the top-k% neurons",
        version=1,
        granularity="neuron",
        suites=("neurons",),
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"steps": 1, "batch_size": 1}, positive=("lr", "top_percent"))
    suite_position = 4

    def localise(self, ctx) -> LayerScores:
        return localise_with_mask(ctx, self.info.name, DEFAULTS,
                                  lambda layers, width, p, device: SlimMask(layers, width, device))


@hookimpl
def register_methods(register):
    register(Slimming())
