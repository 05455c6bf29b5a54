"""MC-dropout uncertainty (paper Eq. 2, n_MC = 17): bsqkit vs a naive loop vs baal.

One segmenter (bsqkit's DCAN-like FCN); the same pool of images; three ways to get the
per-image uncertainty:

- ``bsqkit``: ``estimate_uncertainty(segmenter, X)``: BatchNorm in eval mode, the
  deterministic trunk once per batch, only the dropout head ``n_mc`` times, reduced
  batch by batch;
- ``naive``: ``n_mc`` full forward passes under ``model.train()`` (BatchNorm in training
  mode too: the common mistake, which also changes the running statistics);
- ``baal``: baal's ``MCDropoutModule`` (dropout always on, BatchNorm in eval), ``n_mc``
  full forward passes.

Each measurement runs in a fresh process (peak memory is its own). Reports time ratios,
peak memory (host RSS growth, and GPU allocation on CUDA) and whether the uncertainties
agree in distribution (median ratio, Spearman correlation, KS statistic vs baal).

    pip install -e ".[bench]"
    python benchmarks/mc_dropout.py --device cuda --out benchmarks/results/mc_dropout_cuda.json
    python benchmarks/mc_dropout.py --device cpu --images 100 --sizes 96 \
        --memory-sizes 100 400 --out benchmarks/results/mc_dropout_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, peak_rss_mb, run_isolated

METHODS = ("bsqkit", "naive", "baal")


def _measure(
    method, n_images, size, n_mc, device, seed, width, n_classes, batch_size, group_mb=None
):
    import copy

    import torch

    from bsqkit.functional import mc_dropout_variance
    from bsqkit.nets import NeuralNetSegmenter
    from bsqkit.query import estimate_uncertainty

    rng = np.random.RandomState(seed)
    # varied contrast, so that uncertainty differs between images
    contrast = rng.uniform(0.1, 3.0, size=(n_images, 1, 1))
    X = (rng.rand(n_images, size, size) * contrast).astype(np.float32)
    y = (X[:16] / 3 * n_classes).astype(np.int64).clip(0, n_classes - 1)
    seg = NeuralNetSegmenter(
        n_classes=n_classes,
        max_steps=5,
        batch_size=batch_size,
        module__width=width,
        device=device,
        progress_bar=False,
        random_state=0,
        mc_group_mb=group_mb,
    ).fit(X[:16], y)

    def full_passes(model, X):
        out = []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                x = torch.from_numpy(X[start : start + batch_size]).to(device)[:, None]
                probas = torch.stack([torch.softmax(model(x), 1) for _ in range(n_mc)])
                out.append(mc_dropout_variance(probas))
        return np.concatenate(out)

    if method == "bsqkit":
        run = lambda X: estimate_uncertainty(seg, X, n_mc=n_mc, random_state=seed)  # noqa: E731
    elif method == "naive":
        model = copy.deepcopy(seg.module_).train()
        run = lambda X: full_passes(model, X)  # noqa: E731
    else:
        from baal.bayesian.dropout import MCDropoutModule

        model = MCDropoutModule(copy.deepcopy(seg.module_)).eval()
        run = lambda X: full_passes(model, X)  # noqa: E731
    run(X[:batch_size])  # warm-up: kernels, workspaces, allocator
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        gpu_before = torch.cuda.memory_allocated()
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    values = run(X)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "rss_growth_mb": peak_rss_mb() - rss_before,
        "uncertainty": np.asarray(values, dtype=float).tolist(),
    }
    if cuda:
        result["gpu_peak_extra_mb"] = (torch.cuda.max_memory_allocated() - gpu_before) / 2**20
    return result


def _agreement(a, b):
    from scipy.stats import ks_2samp, spearmanr

    a, b = np.asarray(a), np.asarray(b)
    return {
        "median_ratio": float(np.median(a) / np.median(b)),
        "spearman": float(spearmanr(a, b).statistic),
        "ks_statistic": float(ks_2samp(a, b).statistic),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 192])
    parser.add_argument(
        "--memory-sizes",
        type=int,
        nargs="+",
        default=[1000, 4000],
        help="pool sizes (96 x 96) for the memory check, bsqkit only",
    )
    parser.add_argument("--n-mc", type=int, default=17)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--mc-group-mb",
        type=float,
        default=None,
        help="NeuralNetSegmenter.mc_group_mb (default: its own)",
    )
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", default="benchmarks/results/mc_dropout.json")
    args = parser.parse_args(argv)
    from bsqkit._io import write_json_atomic

    def measure(method, n, size, seed):
        return run_isolated(
            _measure,
            (
                method,
                n,
                size,
                args.n_mc,
                args.device,
                seed,
                args.width,
                args.classes,
                args.batch_size,
                args.mc_group_mb,
            ),
            args.timeout,
        )

    rows, lines = [], []
    for size in args.sizes:
        runs = {m: [measure(m, args.images, size, s) for s in args.seeds] for m in METHODS}
        row = {"size": size, "n_images": args.images, "seeds": args.seeds}
        for m, rs in runs.items():
            ok = [r for r in rs if "seconds" in r]
            if not ok:
                row[m] = {"failed": rs}
                continue
            secs = [r["seconds"] for r in ok]
            row[m] = {
                "median_s": float(np.median(secs)),
                "min_s": min(secs),
                "max_s": max(secs),
                "rss_growth_mb": max(r["rss_growth_mb"] for r in ok),
                "gpu_peak_extra_mb": max(r.get("gpu_peak_extra_mb", 0) for r in ok),
            }
        if all("median_s" in row[m] for m in METHODS):
            row["naive_over_bsqkit"] = row["naive"]["median_s"] / row["bsqkit"]["median_s"]
            row["baal_over_bsqkit"] = row["baal"]["median_s"] / row["bsqkit"]["median_s"]
            first = {m: runs[m][0]["uncertainty"] for m in METHODS}
            row["bsqkit_vs_baal"] = _agreement(first["bsqkit"], first["baal"])
            row["naive_vs_baal"] = _agreement(first["naive"], first["baal"])
        rows.append(row)
        print(json.dumps(row), flush=True)
        write_json_atomic(args.out, {"machine": machine_info(), "args": vars(args), "rows": rows})
    memory = []
    for n in args.memory_sizes:
        r = measure("bsqkit", n, 96, args.seeds[0])
        r.pop("uncertainty", None)
        memory.append({"n_images": n, **r})
        print(json.dumps(memory[-1]), flush=True)
    write_json_atomic(
        args.out, {"machine": machine_info(), "args": vars(args), "rows": rows, "memory": memory}
    )
    for row in rows:
        if "naive_over_bsqkit" in row:
            lines.append(
                f"{row['size']}x{row['size']} x{row['n_images']}: bsqkit "
                f"{row['bsqkit']['median_s']:.2f}s, naive/bsqkit "
                f"{row['naive_over_bsqkit']:.2f}x, baal/bsqkit {row['baal_over_bsqkit']:.2f}x, "
                f"agreement vs baal {row['bsqkit_vs_baal']}"
            )
    for m in memory:
        lines.append(f"memory n={m['n_images']}: {m}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
