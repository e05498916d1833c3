"""The leaderboard's figures (matplotlib, PNG): per model and method a heatmap of the per-layer
profile (tasks x layers), and per model one summary of M-CoG per task and method."""

from __future__ import annotations

from pathlib import Path

from memlocbench.leaderboard.page import ModelTable, figure_paths
from memlocbench.names import path_inside

_PNG_META = {"Software": None}  # no version stamp: the same inputs give the same files


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def write_figures(tables: list[ModelTable], out_dir: Path) -> list[Path]:
    """Write every figure of ``tables`` into ``out_dir``; returns the paths written. Figures of
    models or methods that are no longer on the page are removed."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for t in tables:
        names = figure_paths(t)
        for column in t.columns:
            tasks = [task for task in t.tasks if (task, column) in t.cells]
            grid = [t.cells[(task, column)].profile for task in tasks]
            fig, ax = plt.subplots(figsize=(1.2 + 0.55 * t.num_layers + 2.2, 1.4 + 0.38 * len(tasks)), dpi=110)
            im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0)
            ax.set_xticks(range(t.num_layers), [str(i + 1) for i in range(t.num_layers)])
            ax.set_yticks(range(len(tasks)), tasks)
            ax.set_xlabel("layer")
            ax.set_ylabel("task")
            ax.set_title(f"{column}\n{t.model}: per-layer profile", fontsize=10)
            fig.colorbar(im, ax=ax, label="share of memorisation")
            fig.tight_layout()
            written.append(_save(fig, path_inside(out_dir, names[column]), plt))

        fig, ax = plt.subplots(figsize=(7.5, 1.6 + 0.42 * len(t.tasks)), dpi=110)
        markers = "osD^v<>ph*"
        for k, column in enumerate(t.columns):
            ys = [i for i, task in enumerate(t.tasks) if (task, column) in t.cells]
            xs = [t.cells[(t.tasks[i], column)].mcog for i in ys]
            ax.scatter(xs, ys, label=column, marker=markers[k % len(markers)], s=42, alpha=0.85)
        ax.set_yticks(range(len(t.tasks)), t.tasks)
        ax.set_xlim(0.8, t.num_layers + 0.2)
        ax.set_xlabel(f"M-CoG (layer 1..{t.num_layers})")
        ax.set_ylabel("task")
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"{t.model}: where memorisation lives, per task and method", fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        written.append(_save(fig, path_inside(out_dir, names[""]), plt))
    ours = set(out_dir.glob("*__profiles.png")) | set(out_dir.glob("*__mcog.png"))  # never other files
    for stale in sorted(ours - set(written)):
        stale.unlink()
    return written


def _save(fig, path: Path, plt) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", metadata=_PNG_META)
    plt.close(fig)
    tmp.replace(path)
    return path
