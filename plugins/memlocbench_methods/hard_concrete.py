"""Hard-concrete (MemPi, Chang et al., NAACL 2024, after Louizos et al., ICLR 2018, carried to
classification): an L0 mask over the memorising model's feed-forward neurons.

Each neuron has a gate with log-alpha a. Training draws, once per step, u ~ U(0, 1) per neuron (clamped
to [1e-4, 1 - 1e-4] as MemPi) and gates the neuron with g = clamp(sigmoid((log u - log(1 - u) + a) / beta)
* (r - l) + l, 0, 1), stretch (l, r) = (-0.1, 1.1). The gates start open: a = logit((mask_p - l) / (r - l))
with MemPi's mask_p. The penalty is the expected L0 norm of the removed part: the mean probability that a
gate is exactly closed, 1 - sigmoid(a - beta * log(-l / r)) (MemPi penalises the open part, because
its objective keeps memorisation; ours removes it, see ``mask_learning``). After training the
deterministic gate is sigmoid(a) (MemPi's attribution) and a neuron's attribution is 1 - sigmoid(a).
The objective, batching, seeding and clean contrast are ``mask_learning``'s.

Parameters: those of slimming plus beta (temperature, MemPi's scripts: 0.33) and mask_p (initial open
probability, MemPi: 0.9).
"""

from __future__ import annotations

import math

import torch

from memlocbench.api import hookimpl
from memlocbench.api import LayerScores, MethodInfo
from memlocbench_methods.mask_learning import COMMON_DEFAULTS, localise_with_mask
from memlocbench_methods import minimum_checks

DEFAULTS = {**COMMON_DEFAULTS, "beta": 0.33, "mask_p": 0.9}
STRETCH = (-0.1, 1.1)


class HardConcreteMask:
    def __init__(self, num_layers: int, width: int, beta: float, mask_p: float, device=None):
        lo, hi = STRETCH
        start = (mask_p - lo) / (hi - lo)
        self.beta = beta
        self.log_alpha = torch.full((num_layers, width), math.log(start / (1 - start)), device=device,
                                    requires_grad=True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.log_alpha]

    def noise(self, generator) -> torch.Tensor:
        u = torch.rand(self.log_alpha.shape, generator=generator).clamp(1e-4, 1 - 1e-4)
        return u.to(self.log_alpha.device)

    def train_mask(self, noise) -> torch.Tensor:
        lo, hi = STRETCH
        s = torch.sigmoid((noise.log() - (1 - noise).log() + self.log_alpha) / self.beta)
        return (s * (hi - lo) + lo).clamp(0.0, 1.0)

    def penalty(self) -> torch.Tensor:
        lo, hi = STRETCH
        return (1.0 - torch.sigmoid(self.log_alpha - self.beta * math.log(-lo / hi))).mean()

    def project(self) -> None:  # log-alpha is unconstrained
        pass

    def final_mask(self) -> torch.Tensor:
        return torch.sigmoid(self.log_alpha.detach())


class HardConcrete:
    info = MethodInfo(
        name="hard-concrete",
        description="neurons removed by an L0 (hard-concrete) mask learnt to forget the noisy labels and keep the "
                    "clean ones; layer weights = layer shares of the top-k% neurons",
        version=1,
        granularity="neuron",
        suites=("neurons",),
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"steps": 1, "batch_size": 1}, positive=("lr", "top_percent"))
    suite_position = 5

    def localise(self, ctx) -> LayerScores:
        return localise_with_mask(ctx, self.info.name, DEFAULTS, lambda layers, width, p, device: HardConcreteMask(
            layers, width, p["beta"], p["mask_p"], device))


@hookimpl
def register_methods(register):
    register(HardConcrete())
