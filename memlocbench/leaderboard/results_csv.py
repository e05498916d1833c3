"""``leaderboard/results.csv``: one row per result file read (method and analysis results, those the page
leaves out included), with what identifies it (task, model, method or analysis, setup, seeds, sizes, the
submission's slug, the file) and its key numbers; the page links to it instead of listing every result.
Rows are sorted and numbers printed as stored (Python's shortest round-trip form): the same inputs give
the same bytes."""

from __future__ import annotations

import csv
import io
import json

from memlocbench.leaderboard.aggregate.guard import memorised
from memlocbench.leaderboard.aggregate.seeds import model_seed
from memlocbench.leaderboard.collect import AnalysisEntry, Collected, Entry
from memlocbench.results.run_result import setup_label, setup_order

HEADERS = ["submission", "file", "kind", "task", "model", "method_or_analysis", "setup", "track", "placement",
           "model_seed", "train_size", "n_noisy", "profile", "config_hash", "num_layers", "mcog", "layer_weights",
           "noisy_fit_memorising", "noisy_fit_clean", "memorised", "guard_reason", "accuracy_at_1", "accuracy_at_2",
           "true_layer_rank", "chance", "recall_at_k", "recall_at_2k", "verified", "summary"]
VERIFIED = {None: "", True: "yes", False: "FAILED"}


def _num(x) -> str:
    return "" if x is None else str(x)


def _file(collected: Collected, submission: str, filename: str, submissions_rel: str) -> tuple[str, str]:
    """(the submission's slug, the file's path relative to the csv; a local result: its name alone)."""
    meta = next((s for s in collected.submissions if s.name == submission), None)
    slug = meta.slug if meta is not None else ""
    return slug, filename if submission in collected.local else f"{submissions_rel}/{slug}/{filename}"


def _control(r) -> list[str]:
    c = r.control
    if c is None:
        return ["", "", "", "", "", "", "", ""]
    placement = getattr(c, "placement", None)
    where = f"{placement[0] + 1}-{placement[-1] + 1}" if placement is not None else ""
    return [c.track, where, _num(c.accuracy_at_1)] + [
        _num(getattr(c, name, None)) for name in ("accuracy_at_2", "true_layer_rank")] + [_num(c.chance)] + [
        _num(getattr(c, name, None)) for name in ("recall_at_k", "recall_at_2k")]


def method_row(collected: Collected, e: Entry, submissions_rel: str) -> list[str]:
    """The row of a method result."""
    r, g = e.result, e.result.memorisation_guard
    slug, path = _file(collected, e.submission, e.filename or r.filename(), submissions_rel)
    track, placement, acc1, acc2, rank, chance, rk, r2k = _control(r)
    return [slug, path, "method", r.task.name, r.model.name, r.method.name, setup_label(r), track, placement,
            _num(r.seeds.get("model_seed")), _num(r.sizes.get("effective_train_size")), _num(r.sizes.get("n_noisy")),
            r.settings_profile, r.config_hash, str(r.num_layers), _num(r.mcog), " ".join(map(str, r.layer_weights)),
            _num(r.memorisation["memorising"].noisy_fit_perturbed), _num(r.memorisation["clean"].noisy_fit_perturbed),
            "yes" if memorised(r) else "no", (g.reason or "") if g is not None else "", acc1, acc2, rank, chance,
            rk, r2k, VERIFIED[e.verified], ""]


def analysis_row(collected: Collected, a: AnalysisEntry, submissions_rel: str) -> list[str]:
    """The row of an analysis result: its seeds, guard reasons and summary (as JSON)."""
    r = a.result
    slug, path = _file(collected, a.submission, a.filename, submissions_rel)
    reasons = "; ".join(f"seed {s}: {g.reason}" for s, g in sorted(r.memorisation_guard.items()) if g.reason)
    return [slug, path, "analysis", r.task.name, r.model.name, r.analysis.name, "analysis", "", "",
            " ".join(map(str, r.seeds)), _num(r.sizes.get("effective_train_size", r.sizes.get("train_size"))),
            _num(r.sizes.get("n_noisy")), r.profile_name, r.config_hash, str(r.num_layers), "", "", "", "",
            "yes" if r.memorised else "no", reasons, "", "", "", "", "", "", VERIFIED[a.verified],
            json.dumps(r.summary, sort_keys=True)]


def _method_order(e: Entry) -> tuple:
    r = e.result
    return (r.model.name, r.task.name, r.method.name, setup_order(r), model_seed(r), r.config_hash, e.submission,
            e.filename)


def results_csv(collected: Collected, submissions_rel: str = "submissions") -> str:
    """The csv text: method results (by model, task, method, setup, seed), then analysis results (by model,
    task, analysis). ``submissions_rel``: the submissions folder relative to the csv."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS)
    for e in sorted(collected.entries, key=_method_order):
        writer.writerow(method_row(collected, e, submissions_rel))
    for a in sorted(collected.analyses, key=lambda a: (a.result.model.name, a.result.task.name,
                                                        a.result.analysis.name, a.result.seeds, a.submission,
                                                        a.filename)):
        writer.writerow(analysis_row(collected, a, submissions_rel))
    return out.getvalue()
