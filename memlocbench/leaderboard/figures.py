"""The leaderboard's figures of method results (matplotlib, PNG): per model and method a heatmap of the
per-layer profile (tasks x layers), and per model one summary of M-CoG per task and method. Also the
plotting helpers the other figure writers share (``pyplot``, ``save_figure``, ``remove_stale``)."""

from __future__ import annotations

from pathlib import Path

from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.figure_files import MCOG_SUFFIX, PROFILES_SUFFIX, figure_paths
from memlocbench.names import path_inside

_PNG_META = {"Software": None}  # no version stamp: the same inputs give the same files
_MARKERS = "osD^v<>ph*"


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, plt) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (no version stamp) and close it."""
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", metadata=_PNG_META)
    plt.close(fig)
    tmp.replace(path)
    return path


def remove_stale(out_dir: Path, suffixes: tuple[str, ...], written: list[Path]) -> None:
    """Remove the figures in ``out_dir`` ending in ``suffixes`` that were not just written (never other files)."""
    if not Path(out_dir).is_dir():
        return
    ours = {p for s in suffixes for p in Path(out_dir).glob(f"*{s}")}
    for stale in sorted(ours - set(written)):
        stale.unlink()


def _heatmap(plt, t: ModelTable, column: str, path: Path) -> Path:
    tasks = [task for task in t.tasks if (task, column) in t.cells]
    grid = [t.cells[(task, column)].layer_weights for task in tasks]
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * t.num_layers + 2.2, 1.4 + 0.38 * len(tasks)), dpi=110)
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0)
    ax.set_xticks(range(t.num_layers), [str(i + 1) for i in range(t.num_layers)])
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xlabel("layer")
    ax.set_ylabel("task")
    ax.set_title(f"{column}\n{t.model}: per-layer profile", fontsize=10)
    fig.colorbar(im, ax=ax, label="share of memorisation")
    fig.tight_layout()
    return save_figure(fig, path, plt)


def _mcog_summary(plt, t: ModelTable, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 1.6 + 0.42 * len(t.tasks)), dpi=110)
    for k, column in enumerate(t.columns):
        ys = [i for i, task in enumerate(t.tasks) if (task, column) in t.cells]
        xs = [t.cells[(t.tasks[i], column)].mcog for i in ys]
        ax.scatter(xs, ys, label=column, marker=_MARKERS[k % len(_MARKERS)], s=42, alpha=0.85)
    ax.set_yticks(range(len(t.tasks)), t.tasks)
    ax.set_xlim(0.8, t.num_layers + 0.2)
    ax.set_xlabel(f"M-CoG (layer 1..{t.num_layers})")
    ax.set_ylabel("task")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{t.model}: where memorisation lives, per task and method", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return save_figure(fig, path, plt)


def write_figures(tables: list[ModelTable], out_dir: Path) -> list[Path]:
    """Write every figure of ``tables`` into ``out_dir``; returns the paths written. Figures of
    models or methods that are no longer on the page are removed."""
    plt = pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for t in tables:
        names = figure_paths(t)
        written += [_heatmap(plt, t, column, path_inside(out_dir, names[column])) for column in t.columns]
        written.append(_mcog_summary(plt, t, path_inside(out_dir, names[""])))
    remove_stale(out_dir, (PROFILES_SUFFIX, MCOG_SUFFIX), written)
    return written
