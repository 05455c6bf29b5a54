"""Compare two segmentation-protocol runs method by method on the holdouts both have.

Used for the dropout-placement ablation and the warm-versus-scratch comparison on the
docs' benchmarks page, e.g.::

    python benchmarks/segmentation_comparison.py runs/seg-hippo runs/seg-hippo-blocks \
        --labels head blocks --out docs/results/seg-hippo/ablation_dropout.csv

reads ``<run>/holdout_<k>/slice_<method>.json`` of both runs (finished ones only) and
writes one row per method, holdout and iteration (annotated %, Dice, MSD of each run and
their difference) plus the normalised AUC of each curve over the common range.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bsqkit._io import write_csv_atomic
from bsqkit.experiments.statistics import normalised_auc


def _runs(folder: Path) -> dict[tuple[int, str], list[dict]]:
    out = {}
    for path in sorted(folder.glob("holdout_*/slice_*.json")):
        if path.stem.endswith("noise"):
            continue
        state = json.loads(path.read_text())
        if state.get("finished") and state.get("records"):
            first = state["records"][0]
            out[(first["holdout"], first["method"])] = state["records"]
    return out


def compare(first: Path, second: Path, labels: tuple[str, str]) -> tuple[list, list]:
    a, b = _runs(first), _runs(second)
    rows, curves = [], []
    for key in sorted(set(a) & set(b)):
        if key[1] == "Upper bound":
            continue
        for ra, rb in zip(a[key], b[key], strict=False):
            rows.append(
                {
                    "holdout": key[0],
                    "method": key[1],
                    "iteration": ra["iteration"],
                    "annotated_pct": round(ra["annotated_pct"], 4),
                    f"dice_{labels[0]}": ra["dice"],
                    f"dice_{labels[1]}": rb["dice"],
                    "dice_difference": rb["dice"] - ra["dice"],
                    f"msd_{labels[0]}": ra["msd"],
                    f"msd_{labels[1]}": rb["msd"],
                }
            )
        for label, records in ((labels[0], a[key]), (labels[1], b[key])):
            curves += [{**r, "method": f"{key[1]} ({label})"} for r in records]
    return rows, normalised_auc(curves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--labels", nargs=2, default=("first", "second"))
    parser.add_argument("--out", type=Path, required=True, help="CSV of the curves")
    args = parser.parse_args()
    rows, auc = compare(args.first, args.second, tuple(args.labels))
    if not rows:
        raise SystemExit("no finished method and holdout in common")
    write_csv_atomic(args.out, rows)
    write_csv_atomic(args.out.with_name(args.out.stem + "_auc.csv"), auc)
    for r in auc:
        print(f"holdout {r['holdout']}  {r['method']:<32} AUC {r['auc']:.4f}")


if __name__ == "__main__":
    main()
