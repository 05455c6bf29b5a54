"""The harmonising step on an atlas-sized data set: `--summary-only` end to end, and the
step's time per volume beside the image-only time and the per-label-value resampling
that bsqkit used before (its code is kept below as the baseline, measured in the same
run).

    python benchmarks/harmonising.py --out docs/results/harmonising/cpu.json

Writes 35 synthetic atlas-like volumes of 162 x 214 x 167 voxels with 140 label values
(`bsqkit.datasets.synthetic.write_atlas_like`, reused when present), then times:

- `bsqkit benchmark segmentation --data DIR --summary-only` in a fresh process (what a
  user runs: reading, harmonising, the summary and its figure), with every label value a
  class and with `--labels hippocampus=47+48`, `--repeats` times each;
- per volume, on `--volumes` volumes read once: the image alone on the grid; the label map
  by footprint majority (bsqkit's); the label map one value at a time (the baseline); the
  whole step (`harmonise_subjects`) for that volume.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bsqkit._io import write_json_atomic
from bsqkit.datasets import load_decathlon
from bsqkit.datasets.harmonising import HarmonisingSettings, harmonise_subjects
from bsqkit.datasets.slicing import SliceGrid, canonical_subject, choose_slice_axis
from bsqkit.datasets.synthetic import write_atlas_like

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info


def per_value_labels(grid: SliceGrid, slices: np.ndarray) -> np.ndarray:
    """The baseline: each label value's indicator filtered and resampled like the image,
    then the most likely value per pixel (one Gaussian filter and one affine transform
    per value present)."""
    values = np.union1d(np.unique(slices), [0])
    best = np.full((len(slices), grid.size, grid.size), -1.0, dtype=np.float32)
    out = np.zeros(best.shape, dtype=slices.dtype)
    for value in values:
        indicator = (slices == value).astype(np.float32)
        prob = grid._resample(indicator, background=1.0 if value == 0 else 0.0)
        better = prob > best
        out[better], best[better] = value, prob[better]
    return out


def _timed(fn, repeats: int) -> list[float]:
    took = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        took.append(time.perf_counter() - start)
    return took


def _stats(values: list[float]) -> dict:
    return {
        "median_s": float(np.median(values)),
        "min_s": float(np.min(values)),
        "max_s": float(np.max(values)),
        "runs": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/harmonising.json")
    parser.add_argument("--data-dir", default="runs/atlas-like", help="synthetic volumes")
    parser.add_argument("--subjects", type=int, default=35)
    parser.add_argument("--shape", type=int, nargs=3, default=(162, 214, 167))
    parser.add_argument("--values", type=int, default=140)
    parser.add_argument("--image-size", type=int, default=48, help="the cpu profile's grid")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--volumes", type=int, default=3)
    args = parser.parse_args()

    folder = Path(args.data_dir)
    made = {"subjects": args.subjects, "shape": list(args.shape), "values": args.values}
    stamp = folder / "made_with.json"
    if not stamp.exists() or json.loads(stamp.read_text()) != made:
        start = time.perf_counter()
        write_atlas_like(folder, args.subjects, args.shape, args.values, seed=0)
        stamp.write_text(json.dumps(made))
        print(f"wrote {args.subjects} volumes in {time.perf_counter() - start:.0f} s")

    end_to_end = {}
    for name, extra in (
        ("every value a class", []),
        ("hippocampus", ["--labels", "hippocampus=47+48"]),
    ):
        took = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                command = [
                    sys.executable, "-m", "bsqkit.cli", "benchmark", "segmentation",
                    "--data", str(folder), "--summary-only", "--out", out, *extra,
                ]  # fmt: skip
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                took.append(time.perf_counter() - start)
        end_to_end[name] = {**_stats(took), "printed": done.stdout.splitlines()}
        print(f"--summary-only, {name}: median {np.median(took):.1f} s over {len(took)} runs")

    subjects = load_decathlon(folder, limit=args.volumes)
    per_volume = []
    settings = HarmonisingSettings(args.image_size)
    plan = harmonise_subjects(subjects[:1], settings).grid
    for s in subjects:
        axis, _ = choose_slice_axis(s)
        canonical, _ = canonical_subject(s)
        image = np.moveaxis(canonical.image, axis, 0)
        label = np.moveaxis(canonical.label, axis, 0)
        grid = SliceGrid(image.shape[1:], (1.0, 1.0, 1.0), args.image_size, plan.fov)
        row = {
            "id": s.id,
            "label_values": int(len(np.unique(label)) - 1),
            "image": _stats(_timed(lambda g=grid, x=image: g.to_grid(x), args.repeats)),
            "labels_majority": _stats(
                _timed(lambda g=grid, y=label: g.to_grid(y, labels=True), args.repeats)
            ),
            "labels_per_value_baseline": _stats(
                _timed(lambda g=grid, y=label: per_value_labels(g, y), 1)
            ),
            "harmonise_subjects": _stats(
                _timed(lambda v=s: harmonise_subjects([v], settings), args.repeats)
            ),
        }
        agree = per_value_labels(grid, label) == grid.to_grid(label, labels=True)
        row["pixels_agreeing_with_baseline"] = float(agree.mean())
        per_volume.append(row)
        print(
            f"{s.id}: image {row['image']['median_s']:.2f} s, labels "
            f"{row['labels_majority']['median_s']:.2f} s (per value "
            f"{row['labels_per_value_baseline']['median_s']:.1f} s), whole step "
            f"{row['harmonise_subjects']['median_s']:.2f} s; "
            f"{100 * row['pixels_agreeing_with_baseline']:.1f} % of pixels as the baseline"
        )

    def ratio(key: str, base: str) -> list[float]:
        return [r[key]["median_s"] / r[base]["median_s"] for r in per_volume]

    result = {
        "command": "python benchmarks/harmonising.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(),
        "data": {**made, "image_size": args.image_size, "grid_fov_mm": plan.fov},
        "summary_only": end_to_end,
        "per_volume": per_volume,
        "ratios": {
            "labels_majority_over_image": ratio("labels_majority", "image"),
            "baseline_over_labels_majority": ratio("labels_per_value_baseline", "labels_majority"),
            "step_over_image": ratio("harmonise_subjects", "image"),
        },
    }
    write_json_atomic(Path(args.out), result)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
