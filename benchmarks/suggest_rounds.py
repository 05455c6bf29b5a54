"""Simulated annotation rounds of `bsqkit suggest` on real hippocampus MRI, the script
playing the annotator: how long a CPU round takes against what it announced, and what a
per-volume cap on the suggestions does to the model.

    python benchmarks/suggest_rounds.py --data ../shared/data/hippocampus \
        --out docs/results/suggest-rounds/cpu.json

A project of `--volumes` volumes (the first ones of `dataset.json`), `--labelled` of them
labeled; `--rounds` rounds of `--n-instances` slices with the default settings (the
`cpu` profile, BSQ greedy) and each `--caps` value of `--max-per-volume` (`none`: no cap),
for each seed. After each round the suggested slices are annotated from the data set's
own labels (an empty slice goes to `annotated.csv`), and the round's model is scored on
`--held-out` other volumes (Dice per class on each volume's own grid, the benchmark's
evaluation). All projects use one `--pixel-mm`, so that the held-out volumes are on the
models' grid. Rounds run one after another in this process: their times are comparable.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from bsqkit._io import write_json_atomic
from bsqkit.catalogue import make_segmenter
from bsqkit.experiments.segmentation import evaluate_subjects
from bsqkit.experiments.segmentation.data import prepare_dataset
from bsqkit.workflow import AnnotationProject

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info


def _copy(entries: list[dict], data: Path, folder: Path, labelled: int) -> None:
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for k, e in enumerate(entries):
        shutil.copy(data / e["image"], folder / "images" / Path(e["image"]).name)
        if k < labelled:
            shutil.copy(data / e["label"], folder / "labels" / Path(e["label"]).name)


def _annotate(project: Path, data: Path, suggestions: list[dict]) -> None:
    """The annotator: the data set's labels of the suggested slices (stored slice axis
    from the file's own orientation, as suggestions.csv counts)."""
    for row in suggestions:
        name = f"{row['subject']}.nii.gz"
        truth_image = nib.load(data / "labelsTr" / name)
        truth = np.asarray(truth_image.dataobj)
        path = project / "labels" / name
        current = np.asarray(nib.load(path).dataobj) if path.exists() else np.zeros_like(truth)
        axis = _stored_axis(project, row["subject"])
        index = [slice(None)] * 3
        index[axis] = int(row["slice"])
        current[tuple(index)] = truth[tuple(index)]
        nib.save(nib.Nifti1Image(current.astype(np.uint8), truth_image.affine), path)
        if not truth[tuple(index)].any():
            new = not (project / "annotated.csv").exists()
            with open(project / "annotated.csv", "a", newline="") as fh:
                writer = csv.writer(fh)
                if new:
                    writer.writerow(["subject", "slice"])
                writer.writerow([row["subject"], row["slice"]])


def _stored_axis(project: Path, subject: str) -> int:
    from bsqkit.workflow.state import ProjectState

    state = ProjectState(project / ".bsqkit" / "state.sqlite")
    try:
        return int(state.settings("slice_axes")[subject])
    finally:
        state.close()


def _spread(suggestions: list[dict]) -> dict:
    per_volume: dict[str, list[int]] = {}
    for row in suggestions:
        per_volume.setdefault(row["subject"], []).append(int(row["slice"]))
    adjacent = sum(
        sum(int(b - a == 1) for a, b in zip(sorted(s), sorted(s)[1:], strict=False))
        for s in per_volume.values()
    )
    return {
        "volumes": len(per_volume),
        "most_from_one_volume": max(len(s) for s in per_volume.values()),
        "adjacent_pairs": adjacent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/hippocampus")
    parser.add_argument("--out", default="benchmarks/results/suggest_rounds.json")
    parser.add_argument("--work", default="runs/suggest-rounds")
    parser.add_argument("--volumes", type=int, default=20)
    parser.add_argument("--labelled", type=int, default=3)
    parser.add_argument("--held-out", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n-instances", type=int, default=16)
    parser.add_argument("--caps", nargs="+", default=["none", "2"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--pixel-mm", type=float, default=1.1)
    args = parser.parse_args()

    data = Path(args.data)
    entries = json.loads((data / "dataset.json").read_text())["training"]
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    held_out = work / "held-out"
    _copy(entries[args.volumes : args.volumes + args.held_out], data, held_out, args.held_out)
    test = prepare_dataset(str(held_out), 48, pixel_mm=args.pixel_mm).subjects
    runs = []
    for seed in args.seeds:
        for cap in args.caps:
            project = work / f"cap-{cap}-seed-{seed}"
            _copy(entries[: args.volumes], data, project, args.labelled)
            p = AnnotationProject(project)
            for _ in range(args.rounds):
                result = p.suggest(
                    unit="slice",
                    n_instances=args.n_instances,
                    max_per_volume=None if cap == "none" else int(cap),
                    pixel_mm=args.pixel_mm,
                    seed=seed,
                    verbose=True,  # the announced time is only estimated for a reader
                )
                number = result["round"]
                settings = p.history()["rounds"][-1]["settings"]
                model = make_segmenter(settings["profile"], settings["n_classes"], "cpu", seed)
                model.initialize()
                model.load_params(
                    f_params=project / ".bsqkit" / "checkpoints" / f"round_{number:03d}.pt"
                )
                scores = evaluate_subjects(model, test, [1, 2], names=["Anterior", "Posterior"])
                run = {
                    "seed": seed,
                    "cap": cap,
                    "round": number,
                    "seconds": result["seconds"],
                    "expected_seconds": result["expected_seconds"],
                    "held_out_dice": scores["dice"],
                    "held_out_dice_per_class": {
                        c: scores[f"dice:{c}"] for c in ("Anterior", "Posterior")
                    },
                    **_spread(result["suggestions"]),
                }
                runs.append(run)
                print(
                    f"seed {seed} cap {cap} round {number}: {run['seconds']:.0f} s (announced "
                    f"{run['expected_seconds']:.0f} s), held-out Dice {run['held_out_dice']:.3f}, "
                    f"{run['volumes']} volumes, at most {run['most_from_one_volume']} from "
                    f"one, {run['adjacent_pairs']} adjacent pairs",
                    flush=True,
                )
                _annotate(project, data, result["suggestions"])
    ratios = [r["seconds"] / r["expected_seconds"] for r in runs]
    write_json_atomic(
        Path(args.out),
        {
            "command": "python benchmarks/suggest_rounds.py " + " ".join(sys.argv[1:]),
            "machine": machine_info(),
            "settings": vars(args),
            "runs": runs,
            "measured_over_announced": {"min": min(ratios), "max": max(ratios)},
        },
    )
    print(f"measured / announced round time: {min(ratios):.2f}-{max(ratios):.2f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
