"""Figures and the result summary of the docs, made from the committed raw files.

    python docs/results_figures.py

The docs build runs it (``conf.py``) and writes into ``docs/_figures/`` (not committed):
``hippocampus_curves.png`` (Dice over annotated % per method, mean over holdouts, with
the upper bound), ``hippocampus_paired.png`` (each holdout's normalised AUC of BSQ
greedy minus every other method's), ``hippocampus_auc.rst`` (the table, rounded) and
``summary.rst`` (the three lines of the landing page). Method names as bsqkit displays
them (the paper's "Baseline" is Suggestive Annotation).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "seg-hippo"
OUT = HERE / "_figures"
NAMES = {"Baseline": "Suggestive Annotation"}
ORDER = [
    "BSQ greedy",
    "BSQ top",
    "Suggestive Annotation",
    "Random (foreground)",
    "Uncertainty",
    "CoreSet",
    "Random",
]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        if "method" in r:
            r["method"] = NAMES.get(r["method"], r["method"])
    return rows


def _curves(records: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), dpi=110)
    ax = fig.subplots()
    upper = [float(r["dice"]) for r in records if r["method"] == "Upper bound"]
    ax.axhline(np.mean(upper), color="k", ls="--", lw=1, label="Upper bound (all annotated)")
    for k, method in enumerate(ORDER):
        sel = [r for r in records if r["method"] == method]
        its = sorted({int(r["iteration"]) for r in sel})
        x = [
            np.mean([float(r["annotated_pct"]) for r in sel if int(r["iteration"]) == i])
            for i in its
        ]
        y = [np.mean([float(r["dice"]) for r in sel if int(r["iteration"]) == i]) for i in its]
        style = {"lw": 2.2} if method.startswith("BSQ greedy") else {"lw": 1.2}
        ax.plot(x, y, marker="o", ms=3, color=f"C{k}", label=method, **style)
    ax.set_xlabel("annotated slices [% of the pool]", fontsize=11)
    ax.set_ylabel("Dice on test subjects (mean of 5 holdouts)", fontsize=11)
    ax.set_title("Hippocampus MRI, slice-based active learning", fontsize=12)
    ax.tick_params(labelsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def _paired(auc: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    by = {(r["holdout"], NAMES.get(r["method"], r["method"])): r["auc"] for r in auc}
    holdouts = sorted({h for h, _ in by})
    others = [m for m in ORDER if m != "BSQ greedy"]
    fig = Figure(figsize=(7.5, 3.6), dpi=110)
    ax = fig.subplots()
    for k, method in enumerate(others):
        diffs = [100 * (by[(h, "BSQ greedy")] - by[(h, method)]) for h in holdouts]
        ax.scatter([k] * len(diffs), diffs, s=22, color=f"C{k + 1}")
        ax.plot([k - 0.25, k + 0.25], [np.mean(diffs)] * 2, color="k", lw=1.5)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(others)), [m.replace(" (", "\n(") for m in others], fontsize=9)
    ax.set_ylabel("BSQ greedy minus method\n[normalised AUC, Dice points]", fontsize=10)
    ax.set_title("Per holdout (dots) and mean (bar): above 0, BSQ greedy is better", fontsize=11)
    ax.tick_params(axis="y", labelsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)


def _auc_table(summary: list[dict], path: Path) -> None:
    rows = sorted(summary, key=lambda r: -float(r["auc_mean"]))
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - method",
        "     - normalised AUC of Dice [0-1], mean (std) over 5 holdouts",
    ]
    for r in rows:
        lines += [
            f"   * - {r['method']}",
            f"     - {float(r['auc_mean']):.3f} ({float(r['auc_std']):.3f})",
        ]
    path.write_text("\n".join(lines) + "\n")


def _summary(summary: list[dict], paired: list[dict], noise: float, path: Path) -> None:
    auc = {r["method"]: float(r["auc_mean"]) for r in summary}
    best = sorted(auc, key=lambda m: -auc[m])[:3]
    vs_random = next(r for r in paired if r["other"] == "Random")
    lines = [
        f"- On real hippocampus MRI (260 subjects, 5 holdouts), {', '.join(best[:-1])} and "
        f"{best[-1]} are the best three (normalised AUC {auc[best[0]]:.3f} to "
        f"{auc[best[-1]]:.3f}) and cannot be told apart.",
        f"- BSQ greedy beats random slices in {vs_random['wins']} of 5 holdouts (AUC "
        f"+{float(vs_random['mean_difference']):.3f}, 95 % interval "
        f"+{float(vs_random['ci_low']):.3f} to +{float(vs_random['ci_high']):.3f}).",
        f"- Differences among the best methods are below the retraining noise (Dice std "
        f"{noise:.3f} over training seeds on one annotated set).",
    ]
    path.write_text("\n".join(lines) + "\n")


# the raw files' tables as the benchmarks page shows them: (file, columns as
# (raw name, header with units, decimals or None for text))
TABLES = {
    "budget": (
        "slice_budget_summary.csv",
        [
            ("method", "method", None),
            ("within_5_pct_median", "within 5 %: annotated [%], median", 2),
            ("within_5_pct_reached", "holdouts", None),
            ("within_2_pct_median", "within 2 %: annotated [%]", 2),
            ("within_2_pct_reached", "holdouts", None),
            ("within_1_pct_median", "within 1 %: annotated [%]", 2),
            ("within_1_pct_reached", "holdouts", None),
        ],
    ),
    "paired": (
        "slice_paired.csv",
        [
            ("other", "BSQ greedy against", None),
            ("mean_difference", "AUC difference, mean", 3),
            ("ci_low", "95 % interval, low", 3),
            ("ci_high", "high", 3),
            ("wilcoxon_p", "Wilcoxon p", 4),
            ("wins", "holdouts won (of 5)", None),
        ],
    ),
    "noise": (
        "slice_noise.csv",
        [
            ("holdout", "holdout", None),
            ("n_seeds", "training seeds", None),
            ("dice_mean", "Dice, mean", 3),
            ("dice_std", "Dice, std", 3),
            ("dice_range", "Dice, range", 3),
        ],
    ),
    "ablation": (
        "ablation_dropout_auc.csv",
        [
            ("holdout", "holdout", None),
            ("method", "method (dropout placement)", None),
            ("auc", "normalised AUC", 3),
        ],
    ),
}


def _table(name: str, path: Path) -> None:
    """A raw CSV as a list-table: plain headers with units, rounded, methods by name."""
    source, columns = TABLES[name]
    rows = _rows(RESULTS / source)
    for r in rows:
        for key in ("other", "method"):
            if key in r:
                r[key] = r[key].replace("Baseline", NAMES["Baseline"])
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for k, (_, header, _) in enumerate(columns):
        lines.append(f"   {'* -' if k == 0 else '  -'} {header}")
    for r in rows:
        for k, (key, _, decimals) in enumerate(columns):
            value = r[key]
            if decimals is not None and value != "":
                value = f"{float(value):.{decimals}f}"
            lines.append(f"   {'* -' if k == 0 else '  -'} {value or '-'}")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    records = _rows(RESULTS / "results_slice.csv")
    stats = json.loads((RESULTS / "slice_statistics.json").read_text())
    summary = _rows(RESULTS / "slice_auc_summary.csv")
    paired = _rows(RESULTS / "slice_paired.csv")
    for r in paired:
        r["other"] = NAMES.get(r["other"], r["other"])
    _curves(records, OUT / "hippocampus_curves.png")
    _paired(stats["auc"], OUT / "hippocampus_paired.png")
    _auc_table(summary, OUT / "hippocampus_auc.rst")
    noise = float(stats["noise"]["mean_std"])
    _summary(summary, paired, noise, OUT / "summary.rst")
    for name in TABLES:
        _table(name, OUT / f"hippocampus_{name}.rst")


if __name__ == "__main__":
    main()
