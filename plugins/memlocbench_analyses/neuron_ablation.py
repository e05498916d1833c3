"""Causal ablation track (issue #15): does zeroing what a method points at remove the memorisation of
the noisy labels, and at what cost to generalisation?

On the memorising model (final weights, eval mode) every ablation is measured by three accuracies:
*noisy fit* (predictions equal to the perturbed label on the noisy training examples), *clean training
accuracy* (clean training examples, their labels) and *validation accuracy*; a *drop* is the unablated
value minus the ablated one, in percentage points.

- neuron methods (``MethodInfo.granularity == "neuron"``): their neuron scores (``ctx.method_scores``,
  cached in the store) ranked over all L x d_ff feed-forward neurons (``memlocbench.api.top_neuron_indices``:
  ties to the lower flat index); the top b % zeroed with ``neuron_masks.scaled_neurons``, for each budget
  b (default 0.1, 0.5, 1, 2 %): one curve per method;
- random: uniform random scores (``torch.Generator`` seeded with seed + repeat), ``random_repeats``
  curves, averaged;
- layers: each layer's whole FFN zeroed in turn (one point per layer, budget 100 / L %); a layer
  method's point is that of its top layer (``layer_ranking`` of its profile, ties to the lower layer),
  and "random layer" is the mean over layers.

Selectivity (one number per method, and for random): the noisy-fit drop at the largest budget whose
validation-accuracy drop is at most ``val_drop_limit`` points (default 1); None (undefined) when no
budget stays within it. A layer method's selectivity is its single point's noisy-fit drop under the
same rule. A method named in ``methods`` that is not registered is an error before any training, with
the closest registered name suggested (``details["skipped"]`` stays, empty, for the result format). By
default (``methods`` null) the methods are the members of the ``neurons`` suite, then those of the default
suite (the paper's layer methods), as the registry lists them (``MethodInfo.suites``).
"""

from __future__ import annotations

import torch

from memlocbench.api import hookimpl
from memlocbench.api import InvalidInputError
from memlocbench.api import layer_ranking, normalise, top_neuron_indices
from memlocbench.api import ffn_projections, scaled_neurons
from memlocbench.api import accuracy
from memlocbench.api import DEFAULT_SUITE, AnalysisInfo, AnalysisOutput
from memlocbench.api import predict
from memlocbench_analyses import at_least, summary_mismatches, unknown_names

#: the suite whose methods the default ``methods`` list first (then the default suite's)
NEURON_SUITE = "neurons"
#: the parameters; ``methods`` None = the registry's default list (``default_methods``)
DEFAULTS = {"methods": None, "budgets": [0.1, 0.5, 1.0, 2.0], "random_repeats": 3, "val_drop_limit": 1.0,
            "batch_size": 64, "seed": None}
MEASURES = ("noisy_fit", "clean_train_acc", "validation_acc")


def default_methods(ctx) -> list[str]:
    """The methods ablated unless the config names others: the ``neurons`` suite's members, then the
    default suite's, in suite order (``ctx.method_suites``); where the context lists no suites, every
    registered method, neuron methods first."""
    suites = ctx.method_suites
    if suites:
        return list(dict.fromkeys([*suites.get(NEURON_SUITE, []), *suites.get(DEFAULT_SUITE, [])]))
    granularity = ctx.method_granularity
    return [m for m, g in granularity.items() if g == "neuron"] + [m for m, g in granularity.items() if g != "neuron"]


def param_problems(p: dict, methods: list[str]) -> list[str]:
    """What is wrong with merged parameters ``p``, ``methods`` being the registered methods (checked
    before any training): an unknown method is an error, not a silent skip."""
    problems = [*at_least(p, "random_repeats", 1, " (the random baseline)"), *at_least(p, "batch_size", 1)]
    budgets = p.get("budgets")
    if not isinstance(budgets, list) or not budgets or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b <= 100 for b in budgets):
        problems.append(f"budgets are percentages of all FFN neurons in (0, 100]; got {budgets}")
    seed = p.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        problems.append(f"seed must be null (the run's model seed) or a non-negative integer, got {seed!r}")
    if p.get("methods") is not None:
        problems += unknown_names(p["methods"], methods, "method", "methods")
    return problems


def budget_scale(num_layers: int, width: int, flat_top: torch.Tensor) -> torch.Tensor:
    """A [L, d_ff] scale of ones with the given flat neuron indices zeroed."""
    scale = torch.ones(num_layers * width)
    scale[flat_top] = 0.0
    return scale.view(num_layers, width)


class Evaluator:
    """The three accuracies of the memorising model under a neuron scale (None: unablated)."""

    def __init__(self, ctx, model, batch_size: int):
        d = ctx.dataset
        self.ctx, self.model, self.batch_size = ctx, model, batch_size
        self.sets = {"noisy_fit": (ctx.train_enc, list(d.noisy_idx), [d.noisy_labels[i] for i in d.noisy_idx]),
                     "clean_train_acc": (ctx.train_enc, list(d.clean_idx), [d.noisy_labels[i] for i in d.clean_idx]),
                     "validation_acc": (ctx.val_enc, list(range(len(d.validation))), list(d.validation.labels))}

    def __call__(self, scale) -> dict[str, float]:
        num_layers = len(ffn_projections(self.ctx.adapter, self.model))
        with scaled_neurons(self.ctx.adapter, self.model, [None] * num_layers if scale is None else scale):
            return {name: 100.0 * accuracy(predict(self.model, enc, idx, self.batch_size), gold)
                    for name, (enc, idx, gold) in self.sets.items()}


def drops(base: dict[str, float], measured: dict[str, float]) -> dict[str, float]:
    return {f"{k}_drop": base[k] - measured[k] for k in MEASURES}


def selectivity(points: list[dict], limit: float) -> float | None:
    """Noisy-fit drop at the largest budget whose validation drop is <= ``limit`` points (None if none)."""
    ok = [pt for pt in points if pt["validation_acc_drop"] <= limit + 1e-9]
    return max(ok, key=lambda pt: pt["budget"])["noisy_fit_drop"] if ok else None


def mean_curve(curves: list[list[dict]]) -> list[dict]:
    return [{k: sum(c[i][k] for c in curves) / len(curves) for k in curves[0][i]} for i in range(len(curves[0]))]


def summarise(details: dict) -> dict[str, float | None]:
    limit = details["params"]["val_drop_limit"]
    out = {f"selectivity.{m}": selectivity(curve, limit) for m, curve in details["neuron_curves"].items()}
    out["selectivity.random"] = selectivity(details["random_curve"], limit)
    for m, point in details["layer_points"].items():
        out[f"selectivity.{m}"] = selectivity([point], limit)
    out["selectivity.random-layer"] = selectivity([details["random_layer_point"]], limit)
    return out


class NeuronAblation:
    info = AnalysisInfo(
        name="neuron-ablation",
        description="causal ablation track: zero each method's top neurons (0.1-2%) or top layer's FFN, and random "
                    "ones; drops in noisy fit, clean training and validation accuracy; selectivity",
        version=1,
        uses_methods=True,
    )
    defaults = DEFAULTS

    @staticmethod
    def check_params(params: dict, registered: dict) -> list[str]:
        return param_problems(params, registered.get("method", []))

    def analyse(self, ctx) -> AnalysisOutput:
        p = ctx.params(self.info.name, DEFAULTS)
        problems = param_problems(p, list(ctx.method_granularity))
        if problems:
            raise InvalidInputError(f"neuron-ablation: {'; '.join(problems)}")
        if p["methods"] is None:
            p["methods"] = default_methods(ctx)
        seed = ctx.config.train.seed if p["seed"] is None else p["seed"]
        budgets = sorted(set(p["budgets"]))
        model = ctx.models.load("memorising")
        projections = ffn_projections(ctx.adapter, model)
        num_layers, width = len(projections), projections[0].in_features
        measure = Evaluator(ctx, model, p["batch_size"])
        base = measure(None)

        def curve(scores: torch.Tensor) -> list[dict]:
            points = []
            for b in budgets:
                top = top_neuron_indices(scores, b)
                points.append({"budget": b, "neurons": len(top),
                               **drops(base, measure(budget_scale(num_layers, width, top)))})
            return points

        skipped, neuron_curves, layer_points = [], {}, {}  # skipped: always empty now (unknown methods are errors)
        present = list(dict.fromkeys(p["methods"]))
        layer_scale = []
        for layer in range(num_layers):
            scale = [None] * num_layers
            scale[layer] = torch.zeros(width)
            layer_scale.append({"layer": layer + 1, "budget": 100.0 / num_layers, **drops(base, measure(scale))})
        for m in present:
            scores = ctx.method_scores(m)
            if ctx.method_granularity[m] == "neuron":
                neuron_curves[m] = curve(scores.neurons)
            else:
                top = layer_ranking(normalise(scores.raw))[0]
                layer_points[m] = {**layer_scale[top], "top_layer": top + 1}
        random_curves = []
        for r in range(p["random_repeats"]):
            gen = torch.Generator().manual_seed(seed + r)
            random_curves.append(curve(torch.rand(num_layers, width, generator=gen)))
        details = {"params": p, "seed": seed, "budgets": budgets, "num_layers": num_layers, "d_ff": width,
                   "baseline": base, "neuron_curves": neuron_curves, "random_curves": random_curves,
                   "random_curve": mean_curve(random_curves),
                   "per_layer": layer_scale, "layer_points": layer_points,
                   "random_layer_point": mean_curve([[{k: v for k, v in pt.items() if k != "layer"}]
                                                    for pt in layer_scale])[0], "skipped": skipped,
                   "selectivity_definition": f"noisy-fit drop (points) at the largest budget whose validation "
                                             f"accuracy drop is <= {p['val_drop_limit']} points"}
        return AnalysisOutput(summary=summarise(details), details=details)

    def recheck(self, summary: dict, details: dict) -> list[str]:
        return summary_mismatches(summary, summarise(details), "ablation curves")


@hookimpl
def register_analyses(register):
    register(NeuronAblation())
