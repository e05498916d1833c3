"""An example third-party memlocbench plugin: one task, one localisation method and one analysis."""

from __future__ import annotations

import torch

from memlocbench.api import hookimpl
from memlocbench.api import HubTask
from memlocbench.api import AnalysisInfo, AnalysisOutput, LayerScores, MethodInfo, TaskMetadata

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


class WeightChange:
    info = MethodInfo(
        name="weight-change",
        description="relative L2 distance per layer between the memorising model and the clean twin",
        version=1,
    )

    def localise(self, ctx) -> LayerScores:
        mem, clean = ctx.models.load("memorising"), ctx.models.load("clean")
        clean_params = dict(clean.named_parameters())
        diff = [0.0] * ctx.num_layers
        norm = [0.0] * ctx.num_layers
        for name, p in mem.named_parameters():
            group = ctx.adapter.parameter_group(name)
            if isinstance(group, int):
                diff[group] += float(torch.sum((p - clean_params[name]) ** 2))
                norm[group] += float(torch.sum(clean_params[name] ** 2))
        raw = [(d / n) ** 0.5 if n else 0.0 for d, n in zip(diff, norm)]
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


@hookimpl
def register_analyses(register):
    register(NoisyFit())
