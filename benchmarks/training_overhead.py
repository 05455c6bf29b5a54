"""Training-step overhead of the skorch wrapper vs a plain PyTorch loop.

The same model (bsqkit's DCAN-like FCN), data, optimiser (Adam 5e-4), batch size (8),
loss (inverse-frequency weighted cross-entropy) and random horizontal flips; the
``NeuralNetSegmenter.fit`` path against a hand-written loop. Each run in a fresh
process; repeats alternate; the ratio of medians is the overhead (target < 1.10).

    python benchmarks/training_overhead.py --out benchmarks/results/training_overhead.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, run_isolated


def _data(n, size, n_classes, seed):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, size, size).astype(np.float32)
    y = (X * n_classes).astype(np.int64).clip(0, n_classes - 1)
    return X, y


def _measure(kind, steps, n, size, n_classes, width, device, seed):
    import torch
    from torch.utils.data import DataLoader, RandomSampler, TensorDataset

    from bsqkit.nets import DCANLikeFCN, NeuralNetSegmenter, inverse_frequency_weights

    X, y = _data(n, size, n_classes, seed)
    cuda = device.startswith("cuda")
    if kind == "skorch":
        start = time.perf_counter()
        NeuralNetSegmenter(
            n_classes=n_classes,
            max_steps=steps,
            batch_size=8,
            module__width=width,
            device=device,
            progress_bar=False,
            random_state=seed,
        ).fit(X, y)
    else:
        start = time.perf_counter()
        torch.manual_seed(seed)
        model = DCANLikeFCN(n_classes=n_classes, width=width).to(device)
        weight = torch.as_tensor(inverse_frequency_weights(y, n_classes)).to(device)
        criterion = torch.nn.CrossEntropyLoss(weight=weight)
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
        dataset = TensorDataset(torch.from_numpy(X[:, None]), torch.from_numpy(y))
        loader = DataLoader(
            dataset, batch_size=8, sampler=RandomSampler(dataset, num_samples=steps * 8)
        )
        flips = torch.Generator().manual_seed(seed)
        model.train()
        for xb, yb in loader:
            flip = torch.rand(len(xb), generator=flips) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb).to(device)
            yb = torch.where(flip[:, None, None], yb.flip(-1), yb).to(device)
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
    if cuda:
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - start}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", default="benchmarks/results/training_overhead.json")
    args = parser.parse_args(argv)
    from bsqkit._io import write_json_atomic

    runs = {"plain": [], "skorch": []}
    for seed in args.seeds:
        for kind in ("plain", "skorch"):
            r = run_isolated(
                _measure,
                (
                    kind,
                    args.steps,
                    args.images,
                    args.size,
                    args.classes,
                    args.width,
                    args.device,
                    seed,
                ),
                args.timeout,
            )
            runs[kind].append(r)
            print(kind, seed, r, flush=True)
    summary = {}
    for kind, rs in runs.items():
        secs = [r["seconds"] for r in rs if "seconds" in r]
        summary[kind] = {
            "median_s": float(np.median(secs)),
            "min_s": min(secs),
            "max_s": max(secs),
            "per_step_ms": 1e3 * np.median(secs) / args.steps,
        }
    summary["skorch_over_plain"] = summary["skorch"]["median_s"] / summary["plain"]["median_s"]
    write_json_atomic(
        args.out, {"machine": machine_info(), "args": vars(args), "runs": runs, "summary": summary}
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
