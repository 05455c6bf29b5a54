"""The ``bsqkit`` command."""

from __future__ import annotations

import argparse
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


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    from bsqkit._io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


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
    from bsqkit._io import write_json_atomic
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
    if config.setup != "digits" and not config.data_dir:
        raise SystemExit("bsqkit benchmark entropy: --data DIR is required for s1 and s2")
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
    _write_csv(out / "results.csv", records)
    _write_csv(out / "summary.csv", summary)
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


def _segmentation(args: argparse.Namespace) -> int:
    from bsqkit._io import write_json_atomic
    from bsqkit.experiments.segmentation import gap_to_upper_bound, run_segmentation_benchmark
    from bsqkit.plotting import plot_method_difference, plot_segmentation_curves

    out = Path(args.out)
    start = time.perf_counter()
    records = run_segmentation_benchmark(
        args.data,
        out,
        mode=args.mode,
        profile=args.profile,
        n_holdouts=args.holdouts,
        only=args.only,
        device=args.device,
        progress=not args.quiet,
    )
    elapsed = time.perf_counter() - start
    table = gap_to_upper_bound(records)
    write_json_atomic(out / f"results_{args.mode}.json", {"records": records, "gap": table})
    _write_csv(
        out / f"results_{args.mode}.csv",
        [{k: v for k, v in r.items() if not isinstance(v, list)} for r in records],
    )
    if table:
        _write_csv(out / f"gap_{args.mode}.csv", table)
    n_run = len({r["holdout"] for r in records})
    title = f"{args.data} {args.mode}-based, {n_run} holdouts ({args.profile})"
    plot_segmentation_curves(records, out / f"curves_{args.mode}.png", title=title)
    plot_method_difference(records, out / f"bsq_minus_baseline_{args.mode}.png")
    print(f"Dice gap to the upper bound [%], mean (std) over {n_run} holdouts:")
    print(f"{'method':<12}{'iter':>5}{'annotated %':>13}{'Dice':>8}{'gap':>16}")
    for r in table:
        print(
            f"{r['method']:<12}{r['iteration']:>5}{r['annotated_pct']:>13.1f}"
            f"{r['dice_mean']:>8.3f}{r['gap_mean']:>9.1f} ({r['gap_std']:.1f})"
        )
    print(f"\nwall time {elapsed:.1f} s (this call); outputs in {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bsqkit",
        description="Active learning for image annotation: Bayesian Sample Querying and peers.",
    )
    parser.add_argument("--version", action="version", version=f"bsqkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    quick = sub.add_parser(
        "quickstart",
        help="short active-learning run on scikit-learn's digits (BSQ vs Random and peers)",
    )
    quick.add_argument("--out", default="runs/quickstart", help="output folder")
    quick.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    quick.add_argument("--iterations", type=int, default=15, help="query rounds (default 15)")
    quick.add_argument("--quiet", action="store_true", help="no progress bar")
    quick.set_defaults(func=_quickstart)

    bench = sub.add_parser("benchmark", help="the paper's experiments")
    bench_sub = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    ent = bench_sub.add_parser(
        "entropy",
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
    ent.add_argument("--experiments", type=int, default=5)
    ent.add_argument("--iterations", type=int, default=30)
    ent.add_argument("--vae-epochs", type=int, default=None)
    ent.add_argument("--device", default="cpu")
    ent.add_argument("--out", default="runs/entropy")
    ent.add_argument("--quiet", action="store_true", help="no progress bar")
    ent.set_defaults(func=_entropy)

    seg = bench_sub.add_parser(
        "segmentation", help="the paper's MRI protocol: slice- or volume-based active learning"
    )
    seg.add_argument(
        "--data", default="phantom", help="'phantom' (embedded) or a Decathlon task folder"
    )
    seg.add_argument("--mode", choices=("slice", "volume"), default="slice")
    seg.add_argument(
        "--profile", default="cpu", help="'cpu', 'paper' or a JSON file with the same keys"
    )
    seg.add_argument("--holdouts", type=int, default=5)
    seg.add_argument(
        "--only",
        type=int,
        nargs="+",
        metavar="K",
        help="run only these holdouts (0-based), e.g. one per process; "
        "a later call without --only collects them all",
    )
    seg.add_argument("--device", default="cpu")
    seg.add_argument("--out", default="runs/segmentation")
    seg.add_argument("--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(func=_segmentation)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    for name in ("seeds", "iterations", "experiments", "holdouts"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name} must be >= 1")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
