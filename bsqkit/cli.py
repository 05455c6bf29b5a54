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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.seeds < 1 or args.iterations < 1:
        parser.error("--seeds and --iterations must be >= 1")
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
