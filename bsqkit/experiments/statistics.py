"""Statistics over holdouts that can tell active-learning methods apart.

Per holdout (a split seed) and method: the normalised area under the Dice-vs-annotated-%
curve, and the annotated percentage needed to come within 5, 2 and 1 % of that
holdout's upper bound (the paper's Table 2 read the other way). Across holdouts: paired
differences of BSQ against every other method, with a Wilcoxon signed-rank p-value and a
bootstrap 95 % interval of the mean difference. Differences are to be judged against
the retraining noise: the spread of Dice over training seeds on one annotated set.

Kept whole: each statistic is a short function and the tables combine them; apart,
the reader would chase one table across files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

__all__ = [
    "budget_to_reach",
    "format_per_class",
    "gap_to_upper_bound",
    "noise_summary",
    "normalised_auc",
    "paired_differences",
    "per_class_final",
    "write_statistics",
]

UPPER = "Upper bound"


def _curves(records: Sequence[dict]) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """(holdout, method) -> (annotated %, Dice) in iteration order, upper bound left out."""
    curves: dict[tuple[int, str], list[tuple[int, float, float]]] = {}
    for r in records:
        if r["method"] != UPPER:
            key = (r["holdout"], r["method"])
            curves.setdefault(key, []).append((r["iteration"], r["annotated_pct"], r["dice"]))
    out = {}
    for key, points in curves.items():
        points.sort()
        out[key] = (np.array([p[1] for p in points]), np.array([p[2] for p in points]))
    return out


def normalised_auc(records: Sequence[dict]) -> list[dict]:
    """Area under the Dice-vs-annotated-% curve, divided by the range it covers.

    The mean Dice over the annotation budgets (trapezoidal rule, linear between the
    measured points): one number per holdout and method that rewards reaching a good
    Dice early. Within a holdout every method is integrated over the same range, the
    budgets all its methods reached (volume-based runs end at different percentages),
    so the numbers are comparable and can be paired.

    Parameters
    ----------
    records : sequence of dict
        Segmentation protocol records (``holdout``, ``method``, ``iteration``,
        ``annotated_pct``, ``dice``).

    Returns
    -------
    list of dict
        ``holdout``, ``method``, ``auc``, ``from_pct``, ``to_pct``.

    Examples
    --------
    >>> from bsqkit.experiments.statistics import normalised_auc
    >>> records = [{"holdout": 0, "method": "Random", "iteration": i, "annotated_pct": p,
    ...             "dice": d} for i, (p, d) in enumerate([(1.0, 0.5), (2.0, 0.7), (3.0, 0.7)])]
    >>> normalised_auc(records)[0]["auc"]  # (0.6 + 0.7) / 2
    0.65
    """
    curves = _curves(records)
    rows = []
    for holdout in sorted({h for h, _ in curves}):
        mine = {m: c for (h, m), c in curves.items() if h == holdout and len(c[0]) >= 2}
        if not mine:
            continue
        low = max(x[0] for x, _ in mine.values())
        high = min(x[-1] for x, _ in mine.values())
        if high <= low:
            continue
        for method, (x, y) in mine.items():
            inside = (x > low) & (x < high)
            grid = np.concatenate([[low], x[inside], [high]])
            values = np.interp(grid, x, y)
            area = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(grid)))
            rows.append(
                {
                    "holdout": holdout,
                    "method": method,
                    "auc": round(area / float(high - low), 12),
                    "from_pct": float(low),
                    "to_pct": float(high),
                }
            )
    return rows


def budget_to_reach(records: Sequence[dict], levels: Sequence[float] = (5, 2, 1)) -> list[dict]:
    """The annotated % at which a method first comes within ``level`` % of the upper bound.

    Parameters
    ----------
    records : sequence of dict
        Including each holdout's ``"Upper bound"`` record.
    levels : sequence of float, default=(5, 2, 1)
        Percentages below the holdout's upper-bound Dice: within 5 % means
        ``Dice >= 0.95 * upper bound``.

    Returns
    -------
    list of dict
        ``holdout``, ``method``, ``level``, ``annotated_pct`` (None when the run never
        got there), ``max_pct`` (the largest budget the run reached).

    Examples
    --------
    >>> from bsqkit.experiments.statistics import budget_to_reach
    >>> records = [{"holdout": 0, "method": "Upper bound", "iteration": 0,
    ...             "annotated_pct": 100.0, "dice": 0.80}]
    >>> records += [{"holdout": 0, "method": "BSQ top", "iteration": i, "annotated_pct": p,
    ...              "dice": d} for i, (p, d) in enumerate([(1.0, 0.70), (2.0, 0.77)])]
    >>> [(r["level"], r["annotated_pct"]) for r in budget_to_reach(records)]
    [(5, 2.0), (2, None), (1, None)]
    """
    upper = {r["holdout"]: r["dice"] for r in records if r["method"] == UPPER}
    rows = []
    for (holdout, method), (x, y) in _curves(records).items():
        if holdout not in upper:
            continue
        for level in levels:
            reached = np.flatnonzero(y >= (1 - level / 100) * upper[holdout])
            rows.append(
                {
                    "holdout": holdout,
                    "method": method,
                    "level": level,
                    "annotated_pct": float(x[reached[0]]) if len(reached) else None,
                    "max_pct": float(x[-1]),
                }
            )
    return rows


def paired_differences(
    rows: Sequence[dict],
    value: str = "auc",
    references: Sequence[str] = ("BSQ greedy", "BSQ top"),
    n_bootstrap: int = 10000,
    seed: int = 0,
) -> list[dict]:
    """Each reference method against every other, paired by holdout.

    Parameters
    ----------
    rows : sequence of dict
        One row per holdout and method with ``value`` (e.g. :func:`normalised_auc`).
    value : str, default="auc"
        The row key compared; rows where it is missing or None are left out.
    references : sequence of str, default=("BSQ greedy", "BSQ top")
        Methods each compared with every other method of ``rows`` (two references
        with each other once); a reference absent from ``rows`` is skipped.
    n_bootstrap : int, default=10000
        Resamples of the holdouts for the 95 % interval of the mean difference.
    seed : int, default=0
        Seeds the bootstrap resampling.

    Returns
    -------
    list of dict
        ``reference``, ``other``, ``n_holdouts``, ``mean_difference`` (reference minus
        other), ``ci_low``, ``ci_high``, ``wilcoxon_p`` (two-sided; None with fewer than
        two holdouts; with 5 holdouts the smallest possible p is 0.0625), ``wins``
        (holdouts where the reference is higher).

    Examples
    --------
    >>> from bsqkit.experiments.statistics import paired_differences
    >>> rows = [{"holdout": h, "method": m, "auc": a} for h in range(5)
    ...         for m, a in (("BSQ top", 0.80 + h / 100), ("Random", 0.70 + h / 100))]
    >>> row = paired_differences(rows, references=("BSQ top",))[0]
    >>> row["other"], round(row["mean_difference"], 3), row["wins"], row["wilcoxon_p"]
    ('Random', 0.1, 5, 0.0625)
    """
    table: dict[str, dict[int, float]] = {}
    for r in rows:
        if r.get(value) is not None:
            table.setdefault(r["method"], {})[r["holdout"]] = float(r[value])
    rng = np.random.RandomState(seed)
    out = []
    for k, ref in enumerate(references):
        if ref not in table:
            continue
        for other in table:
            if other == ref or other in references[:k]:  # each pair once
                continue
            holdouts = sorted(set(table[ref]) & set(table[other]))
            if not holdouts:
                continue
            d = np.array([table[ref][h] - table[other][h] for h in holdouts])
            boot = d[rng.randint(len(d), size=(n_bootstrap, len(d)))].mean(axis=1)
            p = None
            if len(d) >= 2:
                p = 1.0 if np.all(d == 0) else float(stats.wilcoxon(d).pvalue)
            out.append(
                {
                    "reference": ref,
                    "other": other,
                    "value": value,
                    "n_holdouts": len(d),
                    "mean_difference": float(d.mean()),
                    "ci_low": float(np.percentile(boot, 2.5)),
                    "ci_high": float(np.percentile(boot, 97.5)),
                    "wilcoxon_p": p,
                    "wins": int((d > 0).sum()),
                }
            )
    return out


def noise_summary(noise: Sequence[dict]) -> dict:
    """Spread of Dice over training seeds on one annotated set, per holdout and overall.

    Parameters
    ----------
    noise : sequence of dict
        Records of :func:`bsqkit.experiments.segmentation.noise_floor`.

    Returns
    -------
    dict
        ``per_holdout`` (std and range of Dice over seeds), ``mean_std``,
        ``mean_range``; empty without records.

    Examples
    --------
    >>> from bsqkit.experiments.statistics import noise_summary
    >>> noise = [{"holdout": 0, "training_seed": k, "dice": d, "n_annotated": 80}
    ...          for k, d in enumerate((0.70, 0.74, 0.72))]
    >>> round(noise_summary(noise)["mean_range"], 3)
    0.04
    """
    by: dict[int, list[float]] = {}
    for r in noise:
        by.setdefault(r["holdout"], []).append(r["dice"])
    if not by:
        return {}
    per = [
        {
            "holdout": h,
            "n_seeds": len(v),
            "dice_mean": float(np.mean(v)),
            "dice_std": float(np.std(v)),
            "dice_range": float(np.ptp(v)),
        }
        for h, v in sorted(by.items())
    ]
    return {
        "n_annotated": noise[0]["n_annotated"],
        "per_holdout": per,
        "mean_std": float(np.mean([p["dice_std"] for p in per])),
        "mean_range": float(np.mean([p["dice_range"] for p in per])),
    }


def _rounded(row: dict, digits: int) -> dict:
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in row.items()}


def _summaries(auc: list[dict], reach: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per method: AUC mean and std over holdouts; the median budget to each level (a
    holdout that never got there counts as more than any budget) and how many got there."""
    methods = list(dict.fromkeys(r["method"] for r in auc))
    auc_rows, reach_rows = [], []
    for m in methods:
        v = [r["auc"] for r in auc if r["method"] == m]
        auc_rows.append(  # rounded: these are the displayed tables (auc.csv is raw)
            {
                "method": m,
                "auc_mean": round(float(np.mean(v)), 4),
                "auc_std": round(float(np.std(v)), 4),
                "n_holdouts": len(v),
            }
        )
        row: dict = {"method": m}
        for level in sorted({r["level"] for r in reach}, reverse=True):
            got = [r["annotated_pct"] for r in reach if r["method"] == m and r["level"] == level]
            median = np.median([np.inf if x is None else x for x in got]) if got else np.inf
            row[f"within_{level}_pct_median"] = (
                round(float(median), 3) if np.isfinite(median) else None
            )
            row[f"within_{level}_pct_reached"] = f"{sum(x is not None for x in got)}/{len(got)}"
        reach_rows.append(row)
    return auc_rows, reach_rows


def _format(auc_rows: list[dict], reach_rows: list[dict], paired: list[dict], noise: dict) -> str:
    lines = ["Normalised AUC of Dice over the annotated % (mean (std) over holdouts):"]
    for r in auc_rows:
        lines.append(
            f"  {r['method']:<20}{r['auc_mean']:.4f} ({r['auc_std']:.4f})  n={r['n_holdouts']}"
        )
    lines.append("Annotated % to come within 5 / 2 / 1 % of the upper bound (median; - never):")
    for r in reach_rows:
        cells = []
        for level in (5, 2, 1):
            median = r.get(f"within_{level}_pct_median")
            text = "-" if median is None else f"{median:.2f}"
            cells.append(f"{text:>6} ({r.get(f'within_{level}_pct_reached', '0/0')})")
        lines.append(f"  {r['method']:<20}" + "  ".join(cells))
    lines.append("Paired AUC differences (reference - other): mean [95 % CI], Wilcoxon p, wins:")
    for r in paired:
        p = "n/a" if r["wilcoxon_p"] is None else f"{r['wilcoxon_p']:.3f}"
        lines.append(
            f"  {r['reference']} - {r['other']:<20}{r['mean_difference']:+.4f} "
            f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]  p={p}  "
            f"{r['wins']}/{r['n_holdouts']}"
        )
    if noise:
        lines.append(
            f"Retraining noise at {noise['n_annotated']} slices: Dice std over seeds "
            f"{noise['mean_std']:.4f}, range {noise['mean_range']:.4f} (mean over holdouts)"
        )
    return "\n".join(lines)


def write_statistics(
    records: Sequence[dict], noise: Sequence[dict], out: str | Path, prefix: str = ""
) -> str:
    """Write every statistic as JSON and CSV, with a figure for each; return the text.

    Parameters
    ----------
    records : sequence of dict
        Segmentation protocol records.
    noise : sequence of dict
        Noise-floor records (may be empty).
    out : str or Path
        Folder for ``<prefix>statistics.json``, the tables ``<prefix>auc.csv`` (per
        holdout), ``<prefix>auc_summary.csv``, ``<prefix>budget_to_reach.csv``,
        ``<prefix>budget_summary.csv``, ``<prefix>paired.csv``, ``<prefix>noise.csv``
        and the figures ``<prefix>auc.png``, ``<prefix>budget_to_reach.png``,
        ``<prefix>paired.png``.
    prefix : str, default=""
        Put before every file name, e.g. ``"volume_"``, to keep several sets in one folder.

    Returns
    -------
    str
        The tables as printed by the command line.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from bsqkit.experiments.statistics import write_statistics
    >>> records = [{"holdout": h, "method": "Upper bound", "iteration": 0,
    ...             "annotated_pct": 100.0, "dice": 0.8} for h in (0, 1)]
    >>> records += [{"holdout": h, "method": m, "iteration": i, "annotated_pct": 1.0 + i,
    ...              "dice": 0.6 + 0.1 * i + (0.02 if m == "BSQ top" else 0)}
    ...             for h in (0, 1) for m in ("BSQ top", "Random") for i in (0, 1)]
    >>> with tempfile.TemporaryDirectory() as out:
    ...     text = write_statistics(records, [], out)
    ...     sorted(p.suffix for p in Path(out).iterdir())
    ['.csv', '.csv', '.csv', '.csv', '.csv', '.json', '.png', '.png', '.png']
    """
    from bsqkit._io import write_csv_atomic, write_json_atomic
    from bsqkit.plotting import plot_auc, plot_budget_to_reach, plot_paired_differences

    out = Path(out)
    auc = normalised_auc(records)
    reach = budget_to_reach(records)
    paired = paired_differences(auc)
    noise_stats = noise_summary(noise)
    auc_rows, reach_rows = _summaries(auc, reach)
    write_json_atomic(
        out / f"{prefix}statistics.json",
        {"auc": auc, "budget_to_reach": reach, "paired_auc": paired, "noise": noise_stats},
    )
    tables = (
        ("auc", auc),
        ("auc_summary", auc_rows),
        ("budget_to_reach", reach),
        ("budget_summary", reach_rows),
        ("paired", [_rounded(r, 4) for r in paired]),  # full precision in the JSON
        ("noise", noise_stats.get("per_holdout", [])),
    )
    for name, rows in tables:
        if rows:
            write_csv_atomic(out / f"{prefix}{name}.csv", rows)
    plot_auc(auc, out / f"{prefix}auc.png", noise=noise_stats)
    plot_budget_to_reach(reach, out / f"{prefix}budget_to_reach.png")
    plot_paired_differences(paired, out / f"{prefix}paired.png")
    return _format(auc_rows, reach_rows, paired, noise_stats)


def gap_to_upper_bound(records: list[dict]) -> list[dict]:
    """Dice gap to the upper bound (percentage points) per method and iteration (Table 2).

    Mean and standard deviation over holdouts of ``upper bound Dice - method Dice``,
    each holdout against its own upper bound.

    Parameters
    ----------
    records : list of dict
        Records of :func:`run_segmentation_benchmark`, including the ``"Upper bound"``.

    Returns
    -------
    list of dict
        One row per method and iteration: ``annotated_pct``, ``dice_mean``, ``gap_mean``,
        ``gap_std``, ``n_holdouts``.

    Examples
    --------
    >>> from bsqkit.experiments.statistics import gap_to_upper_bound
    >>> records = [
    ...     {"method": m, "holdout": h, "iteration": i, "dice": d, "annotated_pct": pct}
    ...     for m, h, i, d, pct in (
    ...         ("Upper bound", 0, 0, 0.90, 100.0),
    ...         ("Upper bound", 1, 0, 0.88, 100.0),
    ...         ("BSQ top", 0, 1, 0.85, 10.0),
    ...         ("BSQ top", 1, 1, 0.80, 10.0),
    ...     )
    ... ]
    >>> row = gap_to_upper_bound(records)[0]
    >>> row["method"], round(row["gap_mean"], 2), round(row["gap_std"], 2), row["n_holdouts"]
    ('BSQ top', 6.5, 1.5, 2)
    """
    upper = {r["holdout"]: r["dice"] for r in records if r["method"] == "Upper bound"}
    rows = []
    methods = [m for m in dict.fromkeys(r["method"] for r in records) if m != "Upper bound"]
    for method in methods:
        for it in sorted({r["iteration"] for r in records if r["method"] == method}):
            sel = [
                r
                for r in records
                if r["method"] == method and r["iteration"] == it and r["holdout"] in upper
            ]
            if not sel:
                continue
            gaps = np.array([100 * (upper[r["holdout"]] - r["dice"]) for r in sel])
            rows.append(
                {
                    "method": method,
                    "iteration": it,
                    "annotated_pct": float(np.mean([r["annotated_pct"] for r in sel])),
                    "dice_mean": float(np.mean([r["dice"] for r in sel])),
                    "gap_mean": float(gaps.mean()),
                    "gap_std": float(gaps.std()),
                    "n_holdouts": len(sel),
                }
            )
    return rows


def per_class_final(records: list[dict], classes: Sequence[str]) -> list[dict]:
    """Dice and MSD of each class at each run's last iteration, mean and standard
    deviation over holdouts, per method (the upper bound's single iteration included).

    Parameters
    ----------
    records : list of dict
        Records with ``dice:<class>`` and ``msd:<class>`` entries
        (:func:`~bsqkit.experiments.segmentation.evaluate_subjects` with ``names``).
    classes : sequence of str
        Class names, in the order of the rows.

    Returns
    -------
    list of dict
        One row per method and class: ``method``, ``class``, ``annotated_pct`` (mean),
        ``dice_mean``, ``dice_std``, ``msd_mean``, ``msd_std``, ``n_holdouts``; the
        methods' mean over classes first, as class ``"mean"``.

    Examples
    --------
    >>> from bsqkit.experiments.statistics import per_class_final
    >>> records = [
    ...     {"method": "BSQ top", "holdout": h, "iteration": i, "annotated_pct": 5.0 * i,
    ...      "dice": 0.7, "msd": 1.0, "dice:anterior": 0.6 + 0.1 * i + 0.02 * h,
    ...      "msd:anterior": 1.0}
    ...     for h in (0, 1) for i in (0, 1)
    ... ]
    >>> rows = per_class_final(records, ["anterior"])
    >>> [(r["class"], round(r["dice_mean"], 2), round(r["dice_std"], 2)) for r in rows]
    [('mean', 0.7, 0.0), ('anterior', 0.71, 0.01)]
    """
    rows = []
    for method in dict.fromkeys(r["method"] for r in records):
        last: dict[int, dict] = {}
        for r in records:
            if r["method"] == method and r["iteration"] >= last.get(r["holdout"], r)["iteration"]:
                last[r["holdout"]] = r
        final = list(last.values())
        for name, suffix in (("mean", ""), *((c, f":{c}") for c in classes)):
            if any(f"dice{suffix}" not in r for r in final):
                continue
            dice = np.array([r[f"dice{suffix}"] for r in final])
            msd = np.array([r[f"msd{suffix}"] for r in final])
            rows.append(
                {
                    "method": method,
                    "class": name,
                    "annotated_pct": float(np.mean([r["annotated_pct"] for r in final])),
                    "dice_mean": float(dice.mean()),
                    "dice_std": float(dice.std()),
                    "msd_mean": float(msd.mean()),
                    "msd_std": float(msd.std()),
                    "n_holdouts": len(final),
                }
            )
    return rows


def format_per_class(rows: list[dict]) -> str:
    """:func:`per_class_final` as a table: a row per method, a column per class.

    Parameters
    ----------
    rows : list of dict
        From :func:`per_class_final` (``method``, ``class``, ``annotated_pct``,
        ``dice_mean``, ``dice_std``).

    Returns
    -------
    str

    Examples
    --------
    >>> from bsqkit.experiments.statistics import format_per_class
    >>> rows = [{"method": "BSQ top", "class": c, "annotated_pct": 2.0, "dice_mean": d,
    ...          "dice_std": 0.01} for c, d in (("mean", 0.8), ("anterior", 0.75))]
    >>> print(format_per_class(rows))
    method         annotated %            mean        anterior
    BSQ top               2.00   0.800 (0.010)   0.750 (0.010)
    """
    classes = list(dict.fromkeys(r["class"] for r in rows))
    cells = {(r["method"], r["class"]): r for r in rows}
    width = {c: max(16, len(c) + 2) for c in classes}
    lines = [f"{'method':<14}{'annotated %':>12}" + "".join(f"{c:>{width[c]}}" for c in classes)]
    for method in dict.fromkeys(r["method"] for r in rows):
        first = next(r for r in rows if r["method"] == method)
        line = f"{method:<14}{first['annotated_pct']:>12.2f}"
        for c in classes:
            r = cells.get((method, c))
            text = "-" if r is None else f"{r['dice_mean']:.3f} ({r['dice_std']:.3f})"
            line += f"{text:>{width[c]}}"
        lines.append(line)
    return "\n".join(lines)
