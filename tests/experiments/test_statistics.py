"""Statistics over holdouts against direct recomputations."""

import numpy as np
import pytest
from scipy import integrate, stats

from bsqkit.experiments.statistics import (
    budget_to_reach,
    gap_to_upper_bound,
    noise_summary,
    normalised_auc,
    paired_differences,
    write_statistics,
)


def _records(seed=0, n_holdouts=5):
    rng = np.random.RandomState(seed)
    pct = np.array([0.25, 0.5, 0.75, 1.0, 1.5])
    records = []
    for h in range(n_holdouts):
        upper = 0.82 + rng.normal(0, 0.01)
        records.append(
            {
                "holdout": h,
                "method": "Upper bound",
                "iteration": 0,
                "annotated_pct": 100.0,
                "dice": upper,
            }
        )
        for m, speed in (("Random", 1.0), ("BSQ greedy", 1.6), ("BSQ top", 1.4)):
            dice = upper * (1 - np.exp(-speed * 3 * pct)) + rng.normal(0, 0.005, len(pct))
            records += [
                {
                    "holdout": h,
                    "method": m,
                    "iteration": i,
                    "annotated_pct": float(p),
                    "dice": float(d),
                }
                for i, (p, d) in enumerate(zip(pct, dice, strict=True))
            ]
    return records


def test_normalised_auc_is_the_trapezoidal_mean_dice():
    records = _records()
    rows = normalised_auc(records)
    assert len(rows) == 15
    for row in rows:
        sel = sorted(
            (r["annotated_pct"], r["dice"])
            for r in records
            if r["holdout"] == row["holdout"] and r["method"] == row["method"]
        )
        x, y = np.array(sel).T
        expected = integrate.trapezoid(y, x) / (x[-1] - x[0])
        assert row["auc"] == pytest.approx(expected, rel=1e-12)


def test_budget_to_reach_is_the_first_budget_within_the_level():
    records = _records()
    rows = budget_to_reach(records, levels=(5, 1))
    upper = {r["holdout"]: r["dice"] for r in records if r["method"] == "Upper bound"}
    for row in rows:
        curve = sorted(
            (r["iteration"], r["annotated_pct"], r["dice"])
            for r in records
            if r["holdout"] == row["holdout"] and r["method"] == row["method"]
        )
        ok = [p for _, p, d in curve if d >= (1 - row["level"] / 100) * upper[row["holdout"]]]
        assert row["annotated_pct"] == (ok[0] if ok else None)
    fast = [r["annotated_pct"] for r in rows if r["method"] == "BSQ greedy" and r["level"] == 5]
    slow = [r["annotated_pct"] for r in rows if r["method"] == "Random" and r["level"] == 5]
    assert np.median(fast) < np.median(slow)


def test_paired_differences_against_scipy_and_a_plain_bootstrap():
    rows = normalised_auc(_records())
    out = paired_differences(rows, references=("BSQ greedy",), n_bootstrap=2000, seed=3)
    row = next(r for r in out if r["other"] == "Random")
    a = {r["holdout"]: r["auc"] for r in rows if r["method"] == "BSQ greedy"}
    b = {r["holdout"]: r["auc"] for r in rows if r["method"] == "Random"}
    d = np.array([a[h] - b[h] for h in sorted(a)])
    assert row["mean_difference"] == pytest.approx(d.mean())
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert row["wilcoxon_p"] == pytest.approx(0.0625)  # 5 holdouts, all wins: the floor
    assert row["wins"] == 5 and row["ci_low"] <= d.mean() <= row["ci_high"]
    boot = d[np.random.RandomState(3).randint(5, size=(2000, 5))].mean(axis=1)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        tuple(np.percentile(boot, [2.5, 97.5]))
    )
    one = paired_differences([r for r in rows if r["holdout"] == 0], references=("BSQ top",))
    assert all(r["wilcoxon_p"] is None for r in one)  # one holdout: no test


def test_noise_summary_and_gap_table():
    noise = [
        {"holdout": h, "training_seed": k, "dice": 0.7 + 0.01 * k + h / 100, "n_annotated": 65}
        for h in (0, 1)
        for k in range(3)
    ]
    summary = noise_summary(noise)
    assert summary["mean_std"] == pytest.approx(np.std([0.70, 0.71, 0.72]))
    assert summary["mean_range"] == pytest.approx(0.02) and noise_summary([]) == {}
    table = gap_to_upper_bound(_records())
    assert {r["method"] for r in table} == {"Random", "BSQ greedy", "BSQ top"}
    assert all(r["n_holdouts"] == 5 for r in table)


def test_write_statistics_files_and_text(tmp_path):
    text = write_statistics(_records(), [], tmp_path, prefix="slice_")
    names = {p.name for p in tmp_path.iterdir()}
    tables = ("auc", "auc_summary", "budget_to_reach", "budget_summary", "paired")
    figures = ("auc", "budget_to_reach", "paired")
    assert names == {
        "slice_statistics.json",
        *(f"slice_{t}.csv" for t in tables),
        *(f"slice_{f}.png" for f in figures),
    }
    assert "BSQ greedy - Random" in text and "Normalised AUC" in text


def test_auc_is_integrated_over_the_range_every_method_reached():
    # volume-based runs end at different percentages: the common range is compared
    records = [
        {"holdout": 0, "method": m, "iteration": i, "annotated_pct": p, "dice": d}
        for m, points in (
            ("A", [(1.0, 0.2), (3.0, 0.6), (5.0, 0.9)]),
            ("B", [(1.0, 0.2), (2.0, 0.5), (4.0, 0.7)]),
        )
        for i, (p, d) in enumerate(points)
    ]
    rows = {r["method"]: r for r in normalised_auc(records)}
    assert rows["A"]["from_pct"] == rows["B"]["from_pct"] == 1.0
    assert rows["A"]["to_pct"] == rows["B"]["to_pct"] == 4.0
    # A over [1, 4]: 0.2 -> 0.6 at 3, 0.75 at 4 (interpolated)
    expected_a = ((0.2 + 0.6) / 2 * 2 + (0.6 + 0.75) / 2 * 1) / 3
    assert rows["A"]["auc"] == pytest.approx(expected_a)
    assert len(paired_differences(list(rows.values()), references=("A", "B"))) == 1
