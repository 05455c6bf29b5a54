"""Figures and text tables of learning curves."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

__all__ = ["curve_summary", "format_curve_table", "plot_learning_curves"]


def curve_summary(
    records: list[dict], metric: str = "accuracy", x: str = "n_labeled"
) -> dict[str, dict[str, np.ndarray]]:
    """Mean and standard deviation of ``metric`` per method and ``x`` over seeds."""
    grouped: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        grouped[r["method"]][r[x]].append(r[metric])
    summary = {}
    for method, by_x in grouped.items():
        xs = np.array(sorted(by_x))
        values = [np.asarray(by_x[v]) for v in xs]
        summary[method] = {
            "x": xs,
            "mean": np.array([v.mean() for v in values]),
            "std": np.array([v.std() for v in values]),
            "n": np.array([v.size for v in values]),
        }
    return summary


def format_curve_table(summary: dict[str, dict[str, np.ndarray]], every: int = 1) -> str:
    """A plain-text table: one row per ``x``, one ``mean (std)`` column per method."""
    methods = list(summary)
    xs = summary[methods[0]]["x"]
    width = max(15, *(len(m) + 2 for m in methods))
    lines = ["n_labeled".rjust(10) + "".join(m.rjust(width) for m in methods)]
    for i, xv in enumerate(xs):
        if i % every and i != len(xs) - 1:
            continue
        row = f"{int(xv):>10}"
        for m in methods:
            s = summary[m]
            row += f"{s['mean'][i]:.3f} ({s['std'][i]:.3f})".rjust(width)
        lines.append(row)
    return "\n".join(lines)


def plot_learning_curves(
    summary: dict[str, dict[str, np.ndarray]],
    path: str | Path,
    ylabel: str = "test accuracy",
    title: str | None = None,
) -> Path:
    """Save mean curves with a one-standard-deviation band to ``path`` (PNG, PDF...)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, s in summary.items():
        ax.plot(s["x"], s["mean"], marker="o", ms=3, label=method)
        ax.fill_between(s["x"], s["mean"] - s["std"], s["mean"] + s["std"], alpha=0.15)
    ax.set_xlabel("annotated samples")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)  # atomic: a reader never sees half a figure
    return path
