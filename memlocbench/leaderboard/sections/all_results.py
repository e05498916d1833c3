"""The "All results" section: every method result in detail, left-out ones marked."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.guard import memorised
from memlocbench.leaderboard.collect import Entry
from memlocbench.leaderboard.markdown import md_escape, table
from memlocbench.results.run_result import setup_label, setup_order

HEADERS = ["model", "task", "method", "setup", "profile", "train", "noisy", "seed", "noisy fit (mem.)",
           "noisy fit (clean twin)", "profile (layers 1..L)", "M-CoG", "memorised", "submission", "verified"]


def _order(e: Entry) -> tuple:
    r = e.result
    return r.model.name, r.task.name, r.method.name, setup_order(r), r.config_hash, e.submission


def _row(e: Entry) -> list:
    r = e.result
    mem, clean = r.memorisation["memorising"], r.memorisation["clean"]
    return [md_escape(r.model.name), md_escape(r.task.name), md_escape(r.method.name), setup_label(r),
            md_escape(r.settings_profile), r.sizes.get("effective_train_size", ""), r.sizes.get("n_noisy", ""),
            r.seeds.get("model_seed", ""), f"{mem.noisy_fit_perturbed:.2f}", f"{clean.noisy_fit_perturbed:.2f}",
            " ".join(f"{w:.2f}" for w in r.layer_weights), f"{r.mcog:.2f}",
            "yes" if memorised(r) else "~~no~~ (left out)", md_escape(e.submission),
            {None: "", True: "yes", False: "FAILED"}[e.verified]]


def section(entries: list[Entry]) -> list[str]:
    """One row per result, sorted by model, task, method, setup and config."""
    rows = [_row(e) for e in sorted(entries, key=_order)]
    return ["## All results", "", table(rows, HEADERS) if rows else "_No results yet._"]
