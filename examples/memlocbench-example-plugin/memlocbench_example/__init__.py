"""An example third-party memlocbench plugin: one task, one localisation method and two analyses.

Plugin metadata at work: the method joins the ``paper`` suite (``MethodInfo.suites``), so ``--method all``
runs it and the leaderboard ranks it beside the paper's methods; the analysis ``weight-change-layer``
declares a location measure (``AnalysisInfo.measures``) that the leaderboard sets against the
generalisation scores.
"""

from __future__ import annotations

import torch

from memlocbench.api import hookimpl
from memlocbench.api import HubTask
from memlocbench.api import AnalysisInfo, AnalysisOutput, LayerScores, Measure, MethodInfo, TaskMetadata

# dair-ai/emotion ClassLabel order: sadness, joy, love, anger, fear, surprise
_POSITIVE = {1, 2, 5}


class EmotionBinary(HubTask):
    def label_of(self, row: dict) -> int:
        return int(int(row["label"]) in _POSITIVE)


EMOTION_BINARY = EmotionBinary(TaskMetadata(
    name="emotion-binary",
    description="dair-ai/emotion as negative (sadness, anger, fear) vs positive (joy, love, surprise)",
    hub_id="dair-ai/emotion",
    mirror_folder="emotion",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("text",),
    label_field="label",
    label_names=("negative", "positive"),
    license="see dair-ai/emotion",
    citation="Saravia et al. (2018), CARER: Contextualized Affect Representations for Emotion Recognition, EMNLP",
    version=1,
))


@torch.no_grad()
def relative_change(adapter, mem, clean, num_layers: int) -> list[float]:
    """Per layer, ||theta_mem - theta_clean|| / ||theta_clean|| over the layer's parameters."""
    clean_params = dict(clean.named_parameters())
    diff = [0.0] * num_layers
    norm = [0.0] * num_layers
    for name, p in mem.named_parameters():
        group = adapter.parameter_group(name)
        if isinstance(group, int):
            diff[group] += float(torch.sum((p - clean_params[name]) ** 2))
            norm[group] += float(torch.sum(clean_params[name] ** 2))
    return [(d / n) ** 0.5 if n else 0.0 for d, n in zip(diff, norm)]


class WeightChange:
    info = MethodInfo(
        name="weight-change",
        description="relative L2 distance per layer between the memorising model and the clean twin",
        version=1,
        suites=("paper",),  # `--method all` runs it, and the leaderboard's control ranking lists it
    )

    def localise(self, ctx) -> LayerScores:
        mem, clean = ctx.models.load("memorising"), ctx.models.load("clean")
        raw = relative_change(ctx.adapter, mem, clean, ctx.num_layers)
        return LayerScores(raw=raw, details={"relative_l2": raw})


@hookimpl
def register_tasks(register):
    register(EMOTION_BINARY)


@hookimpl
def register_methods(register):
    register(WeightChange())


class NoisyFit:
    """How completely the memorising model fits the perturbed labels, per model seed and on average."""

    info = AnalysisInfo(
        name="noisy-fit",
        description="share of noisy examples the memorising model predicts as their perturbed label",
        version=1,
    )

    def analyse(self, ctx) -> AnalysisOutput:
        fits = {str(s): ctx.models_for_seed(s).memorisation_stats("memorising")["noisy_fit_perturbed"]
                for s in ctx.seeds}
        return AnalysisOutput(summary={"noisy_fit": sum(fits.values()) / len(fits)}, details={"per_seed": fits})

    def recheck(self, summary, details) -> list[str]:
        want = sum(details["per_seed"].values()) / len(details["per_seed"])
        return [] if abs(want - summary["noisy_fit"]) < 1e-12 else [f"summary.noisy_fit should be {want}"]


class WeightChangeLayer:
    """Where the memorising model moved furthest from its clean twin: the 1-based layer of the largest
    relative weight change, per model seed and on average (a location measure for the leaderboard)."""

    info = AnalysisInfo(
        name="weight-change-layer",
        description="the layer whose weights differ most (relative L2) between the memorising model and its clean twin",
        version=1,
        measures=(Measure(key="top_layer", label="largest weight change", kind="location"),),
    )

    def analyse(self, ctx) -> AnalysisOutput:
        per_seed = {}
        for s in ctx.seeds:
            models = ctx.models_for_seed(s)
            change = relative_change(ctx.adapter, models.load("memorising"), models.load("clean"), ctx.num_layers)
            per_seed[str(s)] = {"relative_l2": change, "top_layer": 1 + max(range(len(change)), key=change.__getitem__)}
        return AnalysisOutput(summary=self.summarise(per_seed), details={"per_seed": per_seed})

    @staticmethod
    def summarise(per_seed: dict) -> dict[str, float | None]:
        tops = [v["top_layer"] for v in per_seed.values()]
        mean = sum(tops) / len(tops)
        sd = (sum((t - mean) ** 2 for t in tops) / (len(tops) - 1)) ** 0.5 if len(tops) > 1 else None
        return {"top_layer": mean, "top_layer_sd": sd}

    def recheck(self, summary, details) -> list[str]:
        problems = [f"details.per_seed.{s}.top_layer should be {1 + v['relative_l2'].index(max(v['relative_l2']))}"
                    for s, v in details["per_seed"].items()
                    if v["top_layer"] != 1 + v["relative_l2"].index(max(v["relative_l2"]))]
        want = self.summarise(details["per_seed"])
        return problems + ([] if want == summary else [f"summary should be {want}"])


@hookimpl
def register_analyses(register):
    register(NoisyFit())
    register(WeightChangeLayer())
