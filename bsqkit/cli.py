"""The ``bsqkit`` command.

Kept whole: the argument parser of every subcommand in one place (``bsqkit --help``
and the docs' command-line reference are read from it); the work is done by the
modules each subcommand calls.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bsqkit import __version__

__all__ = ["main"]


def _quickstart(args: argparse.Namespace) -> int:
    from bsqkit._io import write_json_atomic
    from bsqkit.experiments.digits import DigitsConfig, run_digits_curve
    from bsqkit.plotting import curve_summary, format_curve_table, plot_learning_curves

    config = DigitsConfig(n_iterations=args.iterations, seeds=tuple(range(args.seeds)))
    start = time.perf_counter()
    records = run_digits_curve(config, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    summary = curve_summary(records)
    out = Path(args.out)
    write_json_atomic(out / "digits_curve.json", {"config": vars(config), "records": records})
    figure = plot_learning_curves(
        summary,
        out / "digits_curve.png",
        title=f"digits, logistic regression, {len(config.seeds)} seeds (mean ± std)",
    )
    print(f"Test accuracy on digits, mean (std) over {len(config.seeds)} seeds:")
    print(format_curve_table(summary))
    print(f"\nwall time {elapsed:.1f} s; records: {out / 'digits_curve.json'}; figure: {figure}")
    return 0


def _format_summary(rows: list[dict]) -> str:
    lines = [f"{'method':<12}{'iter':>5}{'n':>6}{'entropy':>18}{'accuracy':>18}"]
    for r in rows:
        lines.append(
            f"{r['method']:<12}{r['iteration']:>5}{r['n_annotated']:>6}"
            f"{r['entropy_mean']:>11.3f} ({r['entropy_std']:.3f})"
            f"{r['accuracy_mean']:>11.3f} ({r['accuracy_std']:.3f})"
        )
    return "\n".join(lines)


def _entropy(args: argparse.Namespace) -> int:
    from bsqkit._io import write_csv_atomic, write_json_atomic
    from bsqkit.experiments.entropy import (
        EntropyConfig,
        config_dict,
        run_entropy_benchmark,
        summarize,
    )
    from bsqkit.plotting import (
        curve_summary,
        plot_entropy_curves,
        plot_latent_coverage,
        plot_learning_curves,
    )

    config = EntropyConfig(
        setup=args.setup,
        data_dir=args.data,
        download=args.download,
        n_experiments=args.experiments,
        n_iterations=args.iterations,
        device=args.device,
        **({"vae_epochs": args.vae_epochs} if args.vae_epochs else {}),
    )
    out = Path(args.out)
    start = time.perf_counter()
    records = run_entropy_benchmark(config, out, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    iterations = tuple(i for i in config.report_iterations if i <= config.n_iterations)
    summary = summarize(records, iterations)
    write_json_atomic(
        out / "results.json",
        {"config": config_dict(config), "records": records, "summary": summary},
    )
    write_csv_atomic(out / "results.csv", records)
    write_csv_atomic(out / "summary.csv", summary)
    title = f"{config.setup}: {config.n_experiments} experiments"
    plot_entropy_curves(records, out / "entropy.png", title=title)
    plot_latent_coverage(records, out / "latent_coverage.png", title=title)
    plot_learning_curves(
        curve_summary(records, metric="accuracy", x="n_annotated"),
        out / "accuracy.png",
        ylabel="test accuracy (logistic regression on codes)",
        title=title,
    )
    print(f"Appendix benchmark, setup {config.setup}: mean (std) over experiments")
    print(_format_summary(summary))
    print(f"\nwall time {elapsed:.1f} s (this call); outputs in {out}")
    return 0


def _profile_with_overrides(args: argparse.Namespace) -> dict:
    from bsqkit.profiles import load_profile

    profile = load_profile(args.profile)
    for key, value in (("dropout", args.dropout), ("retrain", args.retrain)):
        if value is not None:
            profile["segmenter"][key] = value
    from bsqkit.datasets.slicing import check_size_mm

    for key in ("labels", "pixel_mm", "crop_mm"):
        value = getattr(args, key)
        if key != "labels":
            value = check_size_mm(value, f"--{key.replace('_', '-')}")
        if value is not None:
            profile[key] = value
    return profile


def _segmentation(args: argparse.Namespace) -> int:
    from bsqkit._io import write_csv_atomic, write_json_atomic
    from bsqkit.experiments.segmentation import METHODS, run_segmentation_benchmark
    from bsqkit.experiments.statistics import (
        format_per_class,
        gap_to_upper_bound,
        per_class_final,
        write_statistics,
    )
    from bsqkit.plotting import (
        plot_class_curves,
        plot_method_difference,
        plot_segmentation_curves,
    )

    out = Path(args.out)
    profile = _profile_with_overrides(args)
    start = time.perf_counter()
    result = run_segmentation_benchmark(
        args.data,
        out,
        mode=args.mode,
        profile=profile,
        n_holdouts=args.holdouts,
        only=args.only,
        methods=tuple(args.methods) if args.methods else METHODS,
        device=args.device,
        progress=not args.quiet,
        slice_axis=args.slice_axis,
        group_by=args.group_by,
        groups_csv=args.groups,
        n_subjects=args.subjects,
        collect=args.collect,
        summary_only=args.summary_only,
        on_summary=lambda text: print(text + "\n", flush=True),
    )
    elapsed = time.perf_counter() - start
    if args.summary_only:
        print(f"summary.json and pool_examples.png in {out}")
        return 0
    records = result["records"]
    if result["missing"]:
        print(f"not finished yet ({len(result['missing'])}): " + ", ".join(result["missing"]))
    if args.only is not None:
        print(f"\nholdouts {args.only} done in {elapsed:.0f} s; collect them all with --collect")
        return 0
    if not records:
        print("no finished runs to report")
        return 1
    write_json_atomic(
        out / f"results_{args.mode}.json",
        {
            "profile": profile,
            "records": records,
            "noise": result["noise"],
            "stops": result["stops"],
        },
    )
    write_csv_atomic(
        out / f"results_{args.mode}.csv",
        [{k: v for k, v in r.items() if not isinstance(v, list)} for r in records],
    )
    n_run = len({r["holdout"] for r in records})
    title = f"{args.data} {args.mode}-based, {n_run} holdouts ({args.profile})"
    plot_segmentation_curves(records, out / f"curves_{args.mode}.png", title=title)
    plot_method_difference(records, out / f"bsq_minus_baseline_{args.mode}.png")
    table = gap_to_upper_bound(records)
    if table:
        rounded = [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in table
        ]
        write_csv_atomic(out / f"gap_{args.mode}.csv", rounded)
        print(f"Dice gap to the upper bound [points], mean (std) over {n_run} holdouts:")
        print(f"{'method':<20}{'iter':>5}{'annotated %':>13}{'Dice':>8}{'gap':>16}")
        for r in table:
            print(
                f"{r['method']:<20}{r['iteration']:>5}{r['annotated_pct']:>13.2f}"
                f"{r['dice_mean']:>8.3f}{r['gap_mean']:>9.1f} ({r['gap_std']:.1f})"
            )
        print()
    classes = result["classes"]
    per_class = per_class_final(records, classes)
    if per_class:
        write_csv_atomic(
            out / f"per_class_{args.mode}.csv",
            [
                {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                for r in per_class
            ],
        )
        plot_class_curves(records, classes, out / f"curves_{args.mode}_per_class.png", title=title)
        print(f"Dice per class at each run's last iteration, mean (std) over {n_run} holdouts:")
        print(format_per_class(per_class) + "\n")
    report = write_statistics(records, result["noise"], out, prefix=f"{args.mode}_")
    print(report)
    for stop in {s["stop"] for s in result["stops"] if s["stop"]}:
        n = sum(s["stop"] == stop for s in result["stops"])
        print(f"runs ended: {stop} ({n} runs)")
    print(f"\nwall time {elapsed:.1f} s (this call); outputs in {out}")
    return 0


def _suggest(args: argparse.Namespace) -> int:
    from bsqkit.workflow import AnnotationProject

    result = AnnotationProject(args.project).suggest(
        unit=args.unit,
        n_instances=args.n_instances,
        strategy=args.strategy,
        device=args.device,
        profile=args.profile,
        max_steps=args.max_steps,
        vae_epochs=args.vae_epochs,
        image_size=args.image_size,
        n_mc=args.n_mc,
        n_uncertain=args.n_uncertain,
        slice_axis=args.slice_axis,
        group_by=args.group_by,
        labels=args.labels,
        pixel_mm=args.pixel_mm,
        crop_mm=args.crop_mm,
        resuggest=args.resuggest,
        max_per_volume=args.max_per_volume,
        seed=args.seed,
        verbose=not args.quiet,
    )
    print(f"{'rank':>4}  {'subject':<28}{args.unit:>8}{'score':>11}")
    for s in result["suggestions"]:
        where = "whole" if s["slice"] is None else s["slice"]
        print(f"{s['rank']:>4}  {s['subject']:<28}{where:>8}{s['score']:>11.4g}")
    print(f"report: {result['folder'] / 'report.html'}")
    return 0


def _cite(args: argparse.Namespace) -> int:
    from bsqkit.citations import cite

    print(cite())
    return 0


def _axis(value: str) -> str | int:
    if value == "auto":
        return value
    if value in ("0", "1", "2"):
        return int(value)
    raise argparse.ArgumentTypeError(f"expected 'auto', 0, 1 or 2, got {value!r}")


def _add_harmonising_arguments(parser: argparse.ArgumentParser, labels_default: str) -> None:
    """The classes and the grid: the same options for the benchmark and suggest."""
    parser.add_argument(
        "--labels",
        metavar="SPEC",
        help="the classes to segment: label values (47,48), values merged into named "
        'classes (hippocampus=47+48,amygdala=31+32) or a JSON file {"name": [values]}; '
        f"values not listed are background (default: {labels_default})",
    )
    parser.add_argument(
        "--pixel-mm",
        type=float,
        metavar="MM",
        help="pixel size of the slice grid in mm (default: the largest field of view "
        "among the scans, outliers left out, fits the grid)",
    )
    parser.add_argument(
        "--crop-mm",
        type=float,
        metavar="MM",
        help="field of view of the slice grid in mm, cropped around the body where a "
        "scan is larger, padded where it is smaller",
    )


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in the help (once: not where the text says it, nor None or False), and
    examples kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)


_EPILOGS = {
    "bsqkit": """examples:
  bsqkit quickstart
  bsqkit benchmark entropy --setup digits --out runs/entropy-digits
  bsqkit benchmark segmentation --data ../shared/data/hippocampus --summary-only
  bsqkit suggest PROJECT --unit slice --n-instances 16
  bsqkit cite""",
    "benchmark": """examples:
  bsqkit benchmark entropy --setup digits
  bsqkit benchmark segmentation --data phantom --holdouts 1""",
    "quickstart": """example:
  bsqkit quickstart --seeds 5 --iterations 15 --out runs/quickstart""",
    "entropy": """examples:
  bsqkit benchmark entropy --setup digits --out runs/entropy-digits
  bsqkit benchmark entropy --setup s1 --data ../shared/data --vae-epochs 20
  bsqkit benchmark entropy --setup s2 --data DIR --download""",
    "segmentation": """examples:
  bsqkit benchmark segmentation --data phantom --holdouts 1
  bsqkit benchmark segmentation --data ../shared/data/hippocampus --summary-only
  bsqkit benchmark segmentation --data DIR --group-by '(patient\\d+)_frame' --only 0
  bsqkit benchmark segmentation --data DIR --collect""",
    "suggest": """examples:
  bsqkit suggest PROJECT --unit slice --n-instances 16
  bsqkit suggest PROJECT --unit slice --n-instances 16 --device cuda
  bsqkit suggest PROJECT --labels hippocampus=47+48 --crop-mm 120
  bsqkit suggest PROJECT --unit volume --n-instances 2 --group-by '(patient\\d+)_'""",
    "cite": """example:
  bsqkit cite > bsqkit.bib""",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bsqkit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EPILOGS["bsqkit"],
        description="Active learning for image annotation: Bayesian Sample Querying and peers.",
    )
    parser.add_argument("--version", action="version", version=f"bsqkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    quick = sub.add_parser(
        "quickstart",
        formatter_class=_Formatter,
        epilog=_EPILOGS["quickstart"],
        help="short active-learning run on scikit-learn's digits (BSQ vs Random and peers)",
    )
    quick.add_argument("--out", default="runs/quickstart", help="output folder")
    quick.add_argument("--seeds", type=int, default=5, help="number of seeds")
    quick.add_argument("--iterations", type=int, default=15, help="query rounds")
    quick.add_argument("--quiet", action="store_true", help="no progress bar")
    quick.set_defaults(func=_quickstart)

    bench = sub.add_parser(
        "benchmark",
        help="the paper's experiments",
        formatter_class=_Formatter,
        epilog=_EPILOGS["benchmark"],
    )
    bench_sub = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    ent = bench_sub.add_parser(
        "entropy",
        formatter_class=_Formatter,
        epilog=_EPILOGS["entropy"],
        help="appendix benchmark: class entropy and latent coverage (BSQ vs Random, CoreSet)",
    )
    ent.add_argument(
        "--setup",
        choices=("digits", "s1", "s2"),
        default="digits",
        help="digits (embedded), s1 (MNIST), s2 (MNIST + EMNIST byclass)",
    )
    ent.add_argument(
        "--data",
        default=None,
        help="folder with MNIST (and EMNIST) IDX files, e.g. ../shared/data",
    )
    ent.add_argument(
        "--download", action="store_true", help="fetch missing MNIST/EMNIST files with torchvision"
    )
    ent.add_argument(
        "--experiments", type=int, default=5, help="imbalanced initial draws (experiments)"
    )
    ent.add_argument("--iterations", type=int, default=30, help="query iterations of 10")
    ent.add_argument(
        "--vae-epochs", type=int, default=None, help="MMD-VAE epochs (default: the setup's)"
    )
    ent.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    ent.add_argument("--out", default="runs/entropy", help="output folder (resumable)")
    ent.add_argument("--quiet", action="store_true", help="no progress bar")
    ent.set_defaults(func=_entropy)

    seg = bench_sub.add_parser(
        "segmentation",
        formatter_class=_Formatter,
        epilog=_EPILOGS["segmentation"],
        help="the paper's MRI protocol on any labeled NIfTI data: slice- or volume-based",
        description="Active-learning protocol of the paper (Section 3) on the embedded "
        "phantom or a folder of labeled NIfTI volumes. Writes summary.json and "
        "pool_examples.png before any training.",
    )
    seg.add_argument(
        "--data",
        default="phantom",
        help="'phantom' (embedded) or a folder: a Decathlon task (dataset.json, imagesTr/, "
        "labelsTr/), imagesTr/ + labelsTr/, or images/ + labels/",
    )
    seg.add_argument(
        "--mode",
        choices=("slice", "volume"),
        default="slice",
        help="annotate single slices or whole volumes",
    )
    seg.add_argument(
        "--profile", default="cpu", help="'cpu', 'paper' or a JSON file with the same keys"
    )
    seg.add_argument("--holdouts", type=int, default=5, help="group-wise splits (seeds)")
    seg.add_argument(
        "--only",
        type=int,
        nargs="+",
        metavar="K",
        help="run only these holdouts (0-based), e.g. one per process",
    )
    seg.add_argument(
        "--collect",
        action="store_true",
        help="train nothing: read the finished holdouts, write tables, statistics, figures",
    )
    seg.add_argument(
        "--summary-only",
        action="store_true",
        help="write summary.json and pool_examples.png and stop before training",
    )
    seg.add_argument(
        "--slice-axis",
        default="auto",
        type=_axis,
        help="'auto' (the through-plane axis from the header: the largest voxel spacing, "
        "axial on ties) or a stored array axis 0, 1, 2",
    )
    seg.add_argument(
        "--group-by",
        metavar="REGEX",
        help="patient groups: the first capture group of a file's name, e.g. "
        "'(patient\\d+)_frame\\d+'; splits keep a group together",
    )
    seg.add_argument("--groups", metavar="CSV", help="patient groups from a CSV: subject,group")
    seg.add_argument(
        "--subjects", type=int, help="use N subjects drawn with the seed (default: all)"
    )
    _add_harmonising_arguments(seg, "the profile's")
    seg.add_argument("--methods", nargs="+", metavar="METHOD", help="a subset of the methods")
    seg.add_argument("--dropout", choices=("head", "blocks"), help="override the profile's")
    seg.add_argument("--retrain", choices=("scratch", "warm"), help="override the profile's")
    seg.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    seg.add_argument("--out", default="runs/segmentation", help="output folder (resumable)")
    seg.add_argument("--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(func=_segmentation)

    from bsqkit.catalogue import METHODS

    sug = sub.add_parser(
        "suggest",
        help="which slices or volumes of your own scans to annotate next (one round)",
        description="One annotation round on a project folder: PROJECT/images/ (NIfTI), "
        "PROJECT/labels/ (what is annotated so far), optional annotated.csv "
        "(subject,slice: slices confirmed as background) and labels.json. Writes "
        "PROJECT/rounds/NNN/ (suggestions.csv, suggestions.png, prelabels/, report.html); "
        "state in PROJECT/.bsqkit/state.sqlite.",
        formatter_class=_Formatter,
        epilog=_EPILOGS["suggest"],
    )
    sug.add_argument("project", metavar="PROJECT_DIR", help="the project folder")
    sug.add_argument(
        "--unit",
        choices=("slice", "volume"),
        default="slice",
        help="annotate single slices or whole volumes",
    )
    sug.add_argument("--n-instances", type=int, default=16, help="how many to suggest")
    sug.add_argument(
        "--strategy",
        default="bsq-greedy",
        metavar="METHOD",
        help="how to rank: " + ", ".join(m.slug for m in METHODS) + " (the benchmark's "
        "methods; their display names work too)",
    )
    sug.add_argument(
        "--profile",
        default=None,
        help="the networks' settings: 'cpu', 'paper' or a JSON file, as in the benchmark "
        "(default: 'cpu' on the CPU, 'paper' on a GPU)",
    )
    sug.add_argument(
        "--max-steps",
        type=int,
        help="segmenter training steps of a round that trains anew (default: the profile's)",
    )
    sug.add_argument(
        "--vae-epochs", type=int, help="MMD-VAE epochs, once, cached (default: the profile's)"
    )
    sug.add_argument(
        "--image-size", type=int, help="side of the slice grid (default: the profile's)"
    )
    sug.add_argument("--n-mc", type=int, help="MC-dropout passes (default: the profile's)")
    sug.add_argument(
        "--n-uncertain",
        type=int,
        default=None,
        help="uncertainty shortlist (default: 2 x --n-instances)",
    )
    sug.add_argument(
        "--slice-axis",
        type=_axis,
        default="auto",
        help="'auto' (through-plane, from the header) or a stored axis 0, 1, 2",
    )
    sug.add_argument(
        "--max-per-volume",
        type=int,
        default=2,
        metavar="N",
        help="with --unit slice, at most N suggestions from one volume; 0: no cap",
    )
    sug.add_argument(
        "--resuggest",
        action="store_true",
        help="allow pending suggestions of earlier rounds again",
    )
    sug.add_argument(
        "--group-by",
        metavar="REGEX",
        default=None,
        help="patients: the first capture group of a file's name; with --unit volume a "
        "patient's volumes are suggested together",
    )
    _add_harmonising_arguments(sug, "the previous round's, else every label value")
    sug.add_argument("--seed", type=int, default=0, help="seeds every random choice")
    sug.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    sug.add_argument(
        "--quiet",
        action="store_true",
        help="print the suggestions only (the time estimate is skipped)",
    )
    sug.set_defaults(func=_suggest)

    cit = sub.add_parser(
        "cite",
        help="BibTeX for the paper, bsqkit and the methods it ships",
        formatter_class=_Formatter,
        epilog=_EPILOGS["cite"],
    )
    cit.set_defaults(func=_cite)
    return parser


def thread_budget() -> int:
    """The cores no other process is using now: every core on an idle machine, fewer
    beside busy processes (Linux: the processes running at this instant, from
    ``/proc/loadavg``; elsewhere the one-minute load average).

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from bsqkit.cli import thread_budget
    >>> 1 <= thread_budget() <= __import__("os").cpu_count()
    True
    """
    cores = os.cpu_count() or 1
    try:
        with open("/proc/loadavg") as fh:
            others = int(fh.read().split()[3].split("/")[0]) - 1  # this process aside
    except (OSError, ValueError, IndexError):
        others = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, cores - max(others, 0))


def _calm_threads() -> None:
    """Thread settings for a command, before torch or numpy load their thread pools:
    waiting OpenMP threads sleep rather than spin, and the pools take the cores that are
    free (beside busy processes, threads that wait for a share of the CPU slow every
    process down). A setting in the environment is kept as it is."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(thread_budget()))


def main(argv: Sequence[str] | None = None) -> int:
    _calm_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    for name in ("seeds", "iterations", "experiments", "holdouts"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name} must be >= 1")
    from bsqkit.exceptions import InputError

    try:
        return args.func(args)
    except (InputError, FileNotFoundError) as exc:
        # bad data or settings: one line, no traceback
        print(f"bsqkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
