"""Figures and text tables of learning curves.

Every ``plot_*`` function writes its figure atomically to ``path`` and returns the path;
with ``path=None`` it returns the open :class:`matplotlib.figure.Figure` instead (for
notebooks and the example gallery).

Kept whole: the figures share their style, their atomic writing and matplotlib's lazy
import; each function stands alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "curve_summary",
    "format_curve_table",
    "plot_entropy_curves",
    "plot_latent_coverage",
    "plot_learning_curves",
    "plot_segmentation_curves",
    "plot_class_curves",
    "plot_method_difference",
    "plot_slice_montage",
    "plot_auc",
    "plot_budget_to_reach",
    "plot_paired_differences",
]


def curve_summary(
    records: list[dict], metric: str = "accuracy", x: str = "n_labeled"
) -> dict[str, dict[str, np.ndarray]]:
    """Mean and standard deviation of ``metric`` per method and ``x`` over seeds.

    Parameters
    ----------
    records : list of dict
        Each with the keys ``"method"``, ``x`` and ``metric``; the records of one method
        and one ``x`` value (e.g. one per seed) are summarised together.
    metric : str, default="accuracy"
        The record key to average.
    x : str, default="n_labeled"
        The record key of the x axis.

    Returns
    -------
    dict
        ``{method: {"x", "mean", "std", "n"}}``, arrays over the sorted x values.

    Examples
    --------
    >>> from bsqkit.plotting import curve_summary
    >>> records = [{"method": "Random", "n_labeled": 10, "accuracy": a} for a in (0.5, 0.7)]
    >>> curve_summary(records)["Random"]["mean"], curve_summary(records)["Random"]["std"]
    (array([0.6]), array([0.1]))
    """
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
    """A plain-text table: one row per ``x``, one ``mean (std)`` column per method.

    Parameters
    ----------
    summary : dict
        From :func:`curve_summary`.
    every : int, default=1
        Show every ``every``-th row.

    Returns
    -------
    str

    Examples
    --------
    >>> from bsqkit.plotting import curve_summary, format_curve_table
    >>> records = [
    ...     {"method": "Random", "n_labeled": n, "accuracy": a} for n, a in ((10, 0.5), (20, 0.7))
    ... ]
    >>> print(format_curve_table(curve_summary(records)))
     n_labeled         Random
            10  0.500 (0.000)
            20  0.700 (0.000)
    """
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


def _save(fig, path: str | Path | None) -> Path | Figure:
    """Write ``fig`` atomically to ``path`` and close it; without a path, return it open."""
    import matplotlib.pyplot as plt

    from bsqkit._io import atomic_path

    if path is None:
        return fig
    path = Path(path)
    with atomic_path(path, suffix=".tmp" + path.suffix) as tmp:  # format from the suffix
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def _pyplot():
    # imported on use (the CLI starts faster); no backend is forced, so that returned
    # figures display in notebooks; headless machines fall back to Agg by themselves
    import matplotlib.pyplot as plt

    return plt


def plot_entropy_curves(
    records: list[dict], path: str | Path | None = None, title: str = ""
) -> Path | Figure:
    """Class entropy of the annotated set per iteration (paper Fig. A.6), every method.

    Thin lines are single experiments, thick lines the mean; the dashed line is the
    upper limit ``log C`` of uniform class proportions.

    Parameters
    ----------
    records : list of dict
        Records of the appendix benchmark (``entropy``, ``entropy_max`` per iteration).
    path : str or Path, optional
        Where to write the figure (format from the suffix); ``None`` returns the figure.
    title : str, default=""
        Title of the axes; empty: none.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bsqkit.plotting import plot_entropy_curves
    >>> records = [
    ...     {"method": "BSQ greedy", "experiment": 0, "iteration": i, "entropy": h,
    ...      "entropy_max": 2.303}
    ...     for i, h in enumerate((1.6, 2.0, 2.1))
    ... ]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = plot_entropy_curves(records, Path(tmp) / "entropy.png")  # written atomically
    ...     print(path.name, path.stat().st_size > 0)
    ...
    entropy.png True
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    methods = list(dict.fromkeys(r["method"] for r in records))
    for k, method in enumerate(methods):
        color = f"C{k}"
        sel = [r for r in records if r["method"] == method]
        experiments = sorted({r["experiment"] for r in sel})
        curves = []
        for e in experiments:
            pts = sorted((r["iteration"], r["entropy"]) for r in sel if r["experiment"] == e)
            its, ent = zip(*pts, strict=True)
            ax.plot(its, ent, color=color, lw=0.6, alpha=0.35)
            curves.append(ent)
        length = min(len(c) for c in curves)
        ax.plot(
            its[:length],
            np.mean([c[:length] for c in curves], axis=0),
            color=color,
            lw=2,
            label=method,
        )
    ax.axhline(records[0]["entropy_max"], color="k", ls="--", lw=1, label="upper limit log C")
    ax.set_xlabel("query iteration")
    ax.set_ylabel("class entropy H(c) [nats]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_latent_coverage(
    records: list[dict], path: str | Path | None = None, title: str = ""
) -> Path | Figure:
    """Product of the per-dimension Gaussians of the annotated codes (paper Fig. A.7).

    One panel per method; per experiment, the mean shifted by the pool's (line) and
    one standard deviation (band) over iterations.

    Parameters
    ----------
    records : list of dict
        Records of the appendix benchmark (``product_mean_shift``, ``product_std``).
    path : str or Path, optional
        Where to write the figure (format from the suffix); ``None`` returns the figure.
    title : str, default=""
        First line of the figure's title, above the fixed caption; empty: the caption only.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> from bsqkit.plotting import plot_latent_coverage
    >>> records = [{"method": "BSQ greedy", "experiment": 0, "iteration": i,
    ...             "product_mean_shift": m, "product_std": s}
    ...            for i, (m, s) in enumerate(((0.8, 0.2), (0.1, 0.4), (0.0, 0.5)))]
    >>> type(plot_latent_coverage(records)).__name__
    'Figure'
    """
    plt = _pyplot()
    methods = list(dict.fromkeys(r["method"] for r in records))
    cols = min(2, len(methods))  # two columns: the figure stays readable on a page
    rows = int(np.ceil(len(methods) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.3 * cols, 2.6 * rows + 0.8), sharey=True, squeeze=False
    )
    for ax in axes.ravel()[len(methods) :]:
        ax.remove()
    for ax, method in zip(axes.ravel(), methods, strict=False):
        sel = [r for r in records if r["method"] == method]
        for e in sorted({r["experiment"] for r in sel}):
            pts = sorted(
                (r["iteration"], r["product_mean_shift"], r["product_std"])
                for r in sel
                if r["experiment"] == e
            )
            its, mean, std = (np.array(v) for v in zip(*pts, strict=True))
            ax.plot(its, mean, color=f"C{e}", lw=1, label=f"experiment {e}")
            ax.fill_between(its, mean - std, mean + std, color=f"C{e}", alpha=0.15)
        ax.axhline(0, color="k", lw=0.8, label="the pool's mean")
        ax.set_title(method, fontsize=10)
        ax.set_xlabel("query iteration")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("mean minus the pool's (line)\n± std (band)", fontsize=9)
    axes[0, -1].legend(fontsize=8, loc="upper right")
    fig.suptitle(
        (f"{title}\n" if title else "")
        + "the annotated codes' Gaussian product in the latent space (0: on the pool's mean)",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_learning_curves(
    summary: dict[str, dict[str, np.ndarray]],
    path: str | Path | None = None,
    ylabel: str = "test accuracy",
    title: str | None = None,
) -> Path | Figure:
    """Save mean curves with a one-standard-deviation band to ``path`` (PNG, PDF...).

    Parameters
    ----------
    summary : dict
        From :func:`curve_summary`.
    path : str or Path, optional
        Where to write the figure; ``None`` returns the figure.
    ylabel : str, default="test accuracy"
        Label of the y axis.
    title : str, optional
        Title of the axes; None or empty: none.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> from bsqkit.plotting import curve_summary, plot_learning_curves
    >>> records = [{"method": "Random", "n_labeled": n, "accuracy": a}
    ...            for n, a in ((10, 0.5), (20, 0.7))]
    >>> fig = plot_learning_curves(curve_summary(records), title="toy")  # no path: the figure
    >>> type(fig).__name__
    'Figure'
    """
    plt = _pyplot()
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
    return _save(fig, path)


def plot_segmentation_curves(
    records: list[dict], path: str | Path | None = None, title: str = ""
) -> Path | Figure:
    """Dice and MSD over annotated percentage, mean over holdouts (paper Figs 3 and 5).

    The upper bound (whole pool annotated) is a dashed line.

    Parameters
    ----------
    records : list of dict
        Records of the segmentation protocol (``annotated_pct``, ``dice``, ``msd``).
    path : str or Path, optional
        Where to write the figure (format from the suffix); ``None`` returns the figure.
    title : str, default=""
        Title above both panels; empty: none.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> from bsqkit.plotting import plot_segmentation_curves
    >>> records = [{"method": m, "holdout": 0, "iteration": i, "annotated_pct": 5.0 * (i + 1),
    ...             "dice": d, "msd": 2.0 - d}
    ...            for m, ds in (("BSQ top", (0.70, 0.80)), ("Random", (0.70, 0.75)))
    ...            for i, d in enumerate(ds)]
    >>> type(plot_segmentation_curves(records)).__name__
    'Figure'
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("dice", "msd"), strict=True):
        _method_curves(ax, records, metric)
    axes[0].set_ylabel("Dice (mean over structures)")
    axes[1].set_ylabel("mean surface distance [mm]")
    for ax in axes:
        ax.set_xlabel("annotated [% of pool]")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _method_curves(ax: Any, records: Sequence[dict], metric: str) -> None:
    """One line per method of ``metric`` over annotated percentage (mean over holdouts);
    the upper bound as a dashed line."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    for k, method in enumerate(methods):
        sel = [r for r in records if r["method"] == method and metric in r]
        if not sel:
            continue
        if method == "Upper bound":
            ax.axhline(np.mean([r[metric] for r in sel]), color="k", ls="--", lw=1, label=method)
            continue
        its = sorted({r["iteration"] for r in sel})
        x = [np.mean([r["annotated_pct"] for r in sel if r["iteration"] == i]) for i in its]
        y = [np.mean([r[metric] for r in sel if r["iteration"] == i]) for i in its]
        ax.plot(x, y, marker="o", ms=3, color=f"C{k}", label=method)


# Panels of the per-class figure, and entries of a class legend: the classes beyond this
# are left out (and the figure says so).
CLASS_PANELS = 12


def plot_class_curves(
    records: list[dict],
    classes: Sequence[str],
    path: str | Path | None = None,
    title: str = "",
) -> Path | Figure:
    """Dice of each class over annotated percentage, one panel per class, mean over
    holdouts (the records' ``dice:<class>`` entries).

    Parameters
    ----------
    records : list of dict
        Records of the segmentation protocol.
    classes : sequence of str
        Class names, in the order to show; beyond :data:`CLASS_PANELS`, the first ones
        are shown and the title says how many are left out.
    path : str or Path, optional
        Where to write the figure; ``None`` returns it.
    title : str, default=""
        Title above the panels, followed by the count of classes left out, if any.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> from bsqkit.plotting import plot_class_curves
    >>> records = [{"method": "BSQ top", "holdout": 0, "iteration": i, "annotated_pct": 5.0 * i,
    ...             "dice:anterior": 0.6 + 0.1 * i, "dice:posterior": 0.5 + 0.1 * i}
    ...            for i in range(3)]
    >>> len(plot_class_curves(records, ["anterior", "posterior"]).axes)
    2
    """
    plt = _pyplot()
    shown = list(classes)[:CLASS_PANELS]
    cols = min(4, max(len(shown), 1))
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel()[len(shown) :]:
        ax.remove()
    for ax, name in zip(axes.ravel(), shown, strict=False):
        _method_curves(ax, records, f"dice:{name}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("annotated [% of pool]")
        ax.set_ylabel("Dice")
        ax.grid(alpha=0.3)
    axes.ravel()[0].legend(fontsize=7)
    left_out = len(classes) - len(shown)
    note = f" ({left_out} more classes not shown)" if left_out else ""
    if title or note:
        fig.suptitle(f"{title}{note}")
    fig.tight_layout()
    return _save(fig, path)


def plot_method_difference(
    records: list[dict],
    path: str | Path | None = None,
    first: str = "BSQ top",
    second: str = "Suggestive Annotation",
) -> Path | Figure | None:
    """Per-holdout Dice of ``first`` minus ``second`` per iteration, as box plots (Fig. 4).

    Returns None when either method is missing.

    Parameters
    ----------
    records : list of dict
        Records of the segmentation protocol with both methods.
    path : str or Path, optional
        Where to write the figure; ``None`` returns the figure.
    first, second : str, default="BSQ top", "Suggestive Annotation"
        The two methods compared: the box plots show Dice of ``first`` minus Dice of
        ``second`` on the same holdout and iteration.

    Returns
    -------
    Path, Figure or None

    Examples
    --------
    >>> from bsqkit.plotting import plot_method_difference
    >>> records = [{"method": m, "holdout": h, "iteration": 1, "dice": d} for h in (0, 1)
    ...            for m, d in (("BSQ top", 0.80 + h / 100), ("Suggestive Annotation", 0.78))]
    >>> type(plot_method_difference(records)).__name__, plot_method_difference(records[:1])
    ('Figure', None)
    """
    by = {}
    for r in records:
        by[(r["method"], r["holdout"], r["iteration"])] = r["dice"]
    its = sorted({i for (m, _, i) in by if m == first})
    holdouts = sorted({h for (m, h, _) in by if m == first})
    data = [
        [
            by[(first, h, i)] - by[(second, h, i)]
            for h in holdouts
            if (second, h, i) in by and (first, h, i) in by
        ]
        for i in its
    ]
    if not any(data):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.boxplot(data, positions=its, showmeans=True)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"Dice({first}) - Dice({second})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_slice_montage(
    X: ArrayLike,
    y: ArrayLike,
    path: str | Path | None = None,
    ids: Sequence[str] | None = None,
    n: int = 12,
    title: str = "",
    seed: int = 0,
    class_names: Mapping[int, str] | None = None,
) -> Path | Figure:
    """A montage of slices with their labels over them, to see that data was read right.

    Slices are drawn with the seed, half of them among slices with foreground (when
    there are any), each from another subject where ``ids`` allows.

    Parameters
    ----------
    X : array-like of shape (n_slices, H, W)
        The image slices, shown in grey.
    y : array-like of int of shape (n_slices, H, W)
        Label maps; 0 is background and stays transparent.
    path : str or Path, optional
        Where to write the figure; ``None`` returns the figure.
    ids : sequence of str, optional
        The subject of each slice, shown in the panel titles.
    n : int, default=12
        Number of slices to show (fewer when there are fewer slices).
    title : str, default=""
        Title above the panels; empty: none.
    seed : int, default=0
        Seeds which slices are drawn.
    class_names : mapping of int to str, optional
        Names of the label values: a colour legend of the classes in the shown slices
        (the :data:`CLASS_PANELS` largest).

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.plotting import plot_slice_montage
    >>> X = np.random.RandomState(0).rand(5, 16, 16)
    >>> y = (X > 0.8).astype(int)
    >>> type(plot_slice_montage(X, y, n=4)).__name__
    'Figure'
    """
    X, y = np.asarray(X), np.asarray(y)
    rng = np.random.RandomState(seed)
    has_fg = np.flatnonzero(y.reshape(len(y), -1).any(axis=1))
    picks: list[int] = []
    seen: set = set()

    def take(candidates, limit, one_per_subject=True):
        for i in candidates:
            subject = i if ids is None else ids[i]
            if len(picks) >= limit:
                return
            if i in picks or (one_per_subject and subject in seen):
                continue
            picks.append(int(i))
            seen.add(subject)

    take(rng.permutation(has_fg), (n + 1) // 2)  # half with foreground
    take(rng.permutation(len(X)), n)
    take(rng.permutation(len(X)), n, one_per_subject=False)  # fewer subjects than panels
    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    cols = min(6, len(picks))
    rows = int(np.ceil(len(picks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), squeeze=False)
    n_labels = max(int(y.max()), 1)
    colors = plt.get_cmap("tab10")(np.arange(n_labels) % 10)
    cmap = ListedColormap(colors)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), picks, strict=False):
        ax.imshow(X[i], cmap="gray")
        overlay = np.ma.masked_where(y[i] == 0, y[i] - 1)
        ax.imshow(overlay, cmap=cmap, vmin=0, vmax=n_labels - 1, alpha=0.45, interpolation="none")
        ax.set_title(f"{ids[i] if ids is not None else ''} #{i}", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    if class_names:
        from matplotlib.patches import Patch

        counts = np.bincount(y[picks].ravel(), minlength=n_labels + 1)[1:]
        shown = [k + 1 for k in np.argsort(-counts, kind="stable")[:CLASS_PANELS] if counts[k]]
        handles = [
            Patch(color=colors[k - 1], alpha=0.45, label=class_names.get(k, f"class {k}"))
            for k in sorted(shown)
        ]
        if handles:
            fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=8)
            fig.subplots_adjust(bottom=0.06 + 0.05 * int(np.ceil(len(handles) / 6)) / rows)
    return _save(fig, path)


def _methods_in(rows: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in rows))


def plot_auc(
    rows: Sequence[dict], path: str | Path | None = None, noise: dict | None = None
) -> Path | Figure:
    """Normalised AUC per method: each holdout a dot, the mean a bar.

    Parameters
    ----------
    rows : sequence of dict
        From :func:`bsqkit.experiments.statistics.normalised_auc`.
    path : str or Path, optional
        Where to write the figure; ``None`` returns the figure.
    noise : dict, optional
        :func:`bsqkit.experiments.statistics.noise_summary`; its Dice std over training
        seeds is drawn as a band around the best mean.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> from bsqkit.plotting import plot_auc
    >>> rows = [{"holdout": h, "method": m, "auc": 0.7 + h / 100 + (m == "BSQ top") / 50}
    ...         for h in range(3) for m in ("BSQ top", "Random")]
    >>> type(plot_auc(rows)).__name__
    'Figure'
    """
    plt = _pyplot()
    methods = _methods_in(rows)
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 2, 3.6))
    means = []
    for k, m in enumerate(methods):
        v = [r["auc"] for r in rows if r["method"] == m]
        means.append(np.mean(v))
        ax.bar(k, means[-1], color=f"C{k}", alpha=0.35)
        ax.plot(np.full(len(v), k) + np.linspace(-0.15, 0.15, len(v)), v, "o", color=f"C{k}")
    if noise:
        best = max(means)
        ax.axhspan(best - noise["mean_std"], best + noise["mean_std"], color="k", alpha=0.1)
    low = min(r["auc"] for r in rows)
    ax.set_ylim(low - 0.02, max(r["auc"] for r in rows) + 0.02)
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("normalised AUC (mean Dice over budgets)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def plot_budget_to_reach(rows: Sequence[dict], path: str | Path | None = None) -> Path | Figure:
    """Annotated % needed to come within 5, 2 and 1 % of the upper bound, per method.

    Bars are medians over holdouts (a holdout that never got there counts as more than
    any budget; no bar when that is the median); dots are holdouts, a holdout that
    never got there drawn hollow at the largest budget of its run.

    Parameters
    ----------
    rows : sequence of dict
        From :func:`bsqkit.experiments.statistics.budget_to_reach`.
    path : str or Path, optional
        Where to write the figure (format from the suffix); ``None`` returns the figure.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> from bsqkit.plotting import plot_budget_to_reach
    >>> rows = [{"holdout": 0, "method": m, "level": lv, "annotated_pct": p, "max_pct": 3.0}
    ...         for m in ("BSQ top", "Random") for lv, p in ((5, 1.0), (2, 2.0), (1, None))]
    >>> type(plot_budget_to_reach(rows)).__name__
    'Figure'
    """
    plt = _pyplot()
    methods = _methods_in(rows)
    levels = sorted({r["level"] for r in rows}, reverse=True)
    fig, ax = plt.subplots(figsize=(1.3 * len(methods) + 2, 3.6))
    width = 0.8 / max(len(levels), 1)
    for j, level in enumerate(levels):
        ax.bar(np.nan, np.nan, width, color=f"C{j}", alpha=0.35, label=f"within {level} %")
        for k, m in enumerate(methods):
            sel = [r for r in rows if r["method"] == m and r["level"] == level]
            x = k + (j - (len(levels) - 1) / 2) * width
            # the median over holdouts, a holdout that never got there counting as above all
            values = [np.inf if r["annotated_pct"] is None else r["annotated_pct"] for r in sel]
            median = np.median(values) if values else np.inf
            if np.isfinite(median):
                ax.bar(x, median, width, color=f"C{j}", alpha=0.35)
            for r in sel:
                reached = r["annotated_pct"] is not None
                y = r["annotated_pct"] if reached else r["max_pct"]
                ax.plot(x, y, "o", ms=4, color=f"C{j}", mfc=f"C{j}" if reached else "none")
    ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("annotated [% of pool]")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return _save(fig, path)


def plot_paired_differences(rows: Sequence[dict], path: str | Path | None = None) -> Path | Figure:
    """Mean paired difference with its bootstrap 95 % interval, per comparison.

    Parameters
    ----------
    rows : sequence of dict
        From :func:`bsqkit.experiments.statistics.paired_differences`.
    path : str or Path, optional
        Where to write the figure (format from the suffix); ``None`` returns the figure.

    Returns
    -------
    Path or Figure

    Examples
    --------
    >>> from bsqkit.plotting import plot_paired_differences
    >>> rows = [{"reference": "BSQ top", "other": "Random", "mean_difference": 0.02,
    ...          "ci_low": 0.0, "ci_high": 0.04, "wilcoxon_p": 0.06, "value": "auc"}]
    >>> type(plot_paired_differences(rows)).__name__
    'Figure'
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(rows) + 1.2))
    for k, r in enumerate(rows):
        ax.errorbar(
            r["mean_difference"],
            k,
            xerr=[[r["mean_difference"] - r["ci_low"]], [r["ci_high"] - r["mean_difference"]]],
            fmt="o",
            color="C0" if r["reference"] == "BSQ greedy" else "C1",
            capsize=3,
        )
        p = "" if r["wilcoxon_p"] is None else f"  p={r['wilcoxon_p']:.2f}"
        ax.annotate(p, (r["ci_high"], k), fontsize=7, va="center")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{r['reference']} - {r['other']}" for r in rows], fontsize=8)
    value = rows[0]["value"] if rows else "auc"
    ax.set_xlabel(f"paired difference of {value} (95 % bootstrap interval over holdouts)")
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _save(fig, path)
