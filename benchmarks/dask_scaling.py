"""The query step on Dask: pools of 1e6 and 1e7 codes x 200, generated block by block.

The pool is a ``dask.array`` of float32 standard normal codes, generated block by block
from a fixed seed (never held whole: every pass over the pool generates it again), with
100 annotated codes and a logistic regression on them for Uncertainty; a batch of 32.
Each strategy runs on a ``dask.distributed.LocalCluster`` of 1 and of 2 worker
processes (one thread each), and in memory (numpy, the pool computed first) where the
pool fits under ``--memory-max-gb``. Beside each, in the same cluster, the floor of a
pass: generating the pool and summing it (``codes.sum(axis=0)``, after the query), so
that a strategy's time reads as a number of passes. The workers import bsqkit before
the query, as a long-lived cluster has (the one-off import is recorded apart). Peak
memory is each worker's resident high-water mark during the query, above what it held
before. Every configuration runs in a fresh process; rows are written as they finish
and a rerun skips the rows already there.

    pip install -e ".[dask]"
    python benchmarks/dask_scaling.py --out docs/results/dask-scaling/cpu.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, peak_rss_mb, run_isolated

N_LABELED, BATCH, D, CHUNK = 100, 32, 200, 100_000
METHODS = ["Random", "Uncertainty", "BSQ top", "BSQ greedy", "CoreSet"]


def _pool(n_pool: int, seed: int):
    import dask.array as da

    rng = da.random.default_rng(seed)
    return rng.standard_normal(size=(n_pool, D), chunks=(CHUNK, D), dtype=np.float32)


def _labeled(seed: int):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(seed + 1000)
    X_lab = rng.standard_normal((N_LABELED, D)).astype(np.float32)
    y_lab = (X_lab @ rng.standard_normal((D, 10))).argmax(axis=1)
    return X_lab, LogisticRegression(max_iter=300).fit(X_lab, y_lab)


def _strategy(name: str, seed: int):
    import bsqkit

    return {
        "Random": lambda: bsqkit.RandomQuery(random_state=seed),
        "Uncertainty": lambda: bsqkit.UncertaintyQuery(random_state=seed),
        "BSQ top": lambda: bsqkit.BayesianSampleQuery(random_state=seed),
        "BSQ greedy": lambda: bsqkit.BayesianSampleQuery(batch_mode="greedy", random_state=seed),
        "CoreSet": lambda: bsqkit.CoreSetQuery(random_state=seed),
    }[name]()


def _worker_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(name: str, n_pool: int, setting: str, seed: int) -> dict:
    """One query; ``setting`` is "memory" or "dask-K" (K worker processes)."""
    X_lab, clf = _labeled(seed)
    strategy = _strategy(name, seed)
    pool = _pool(n_pool, seed)
    if setting == "memory":
        X_pool = pool.compute(scheduler="threads")
        before = peak_rss_mb()
        start = time.perf_counter()
        idx, _ = strategy.query(X_pool, estimator=clf, X_labeled=X_lab, n_instances=BATCH)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak_extra_mb": max(peak_rss_mb() - before, 0.0),
                "idx": idx[:5].tolist()}  # fmt: skip
    from distributed import Client, LocalCluster

    n_workers = int(setting.split("-")[1])
    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # a long-lived cluster has imported bsqkit (and torch) on its workers already:
        # that one-off cost (seconds per worker) is measured apart, not in the query
        start = time.perf_counter()
        client.run(importlib.import_module, "bsqkit.query")
        import_s = time.perf_counter() - start
        before = client.run(_worker_peak_mb)
        start = time.perf_counter()
        idx, _ = strategy.query(pool, estimator=clf, X_labeled=X_lab, n_instances=BATCH)
        seconds = time.perf_counter() - start
        after = client.run(_worker_peak_mb)
        start = time.perf_counter()
        pool.sum(axis=0).compute()
        floor = time.perf_counter() - start
    extra = [max(after[w] - before[w], 0.0) for w in after]
    return {"seconds": seconds, "pass_floor_s": floor, "passes": seconds / floor,
            "worker_import_s": import_s,
            "peak_extra_mb_per_worker": extra, "idx": idx[:5].tolist()}  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--settings", nargs="+", default=["memory", "dask-1", "dask-2"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--memory-max-gb", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--out", default="benchmarks/results/dask_scaling.json")
    args = parser.parse_args(argv)
    from bsqkit._io import write_json_atomic

    out = Path(args.out)
    done = json.loads(out.read_text())["rows"] if out.exists() else []
    rows = list(done)
    have = {(r["method"], r["n_pool"], r["setting"]) for r in done}
    info = machine_info(batch=BATCH, n_labeled=N_LABELED, d=D, chunk_rows=CHUNK)
    for n_pool in args.sizes:
        for name in args.methods:
            for setting in args.settings:
                if (name, n_pool, setting) in have:
                    continue
                row = {"method": name, "n_pool": n_pool, "setting": setting}
                gb = n_pool * D * 4 / 2**30
                if setting == "memory" and gb > args.memory_max_gb:
                    row["skipped"] = f"pool of {gb:.1f} GiB over --memory-max-gb"
                else:
                    row["seeds"] = args.seeds
                    row["runs"] = [
                        run_isolated(_measure, (name, n_pool, setting, s), args.timeout)
                        for s in args.seeds
                    ]
                    ok = [r["seconds"] for r in row["runs"] if "seconds" in r]
                    if ok:
                        row["median_s"] = float(np.median(ok))
                        row["min_s"], row["max_s"] = float(min(ok)), float(max(ok))
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items()}), flush=True)
                write_json_atomic(out, {"machine": info, "rows": rows})
    print(format_table(rows))


def format_table(rows):
    """Markdown: median seconds, passes of the floor, peak MB per worker, efficiency."""
    by = {(r["method"], r["n_pool"], r["setting"]): r for r in rows}
    lines = [
        "| method | N | setting | s | passes | peak extra MB / worker | 1->2 workers |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if "median_s" not in r:
            note = r.get("skipped") or (r["runs"][0] if r.get("runs") else "")
            lines.append(f"| {r['method']} | {r['n_pool']:.0e} | {r['setting']} | {note} | | | |")
            continue
        run = r["runs"][0]
        passes = f"{run['passes']:.1f}" if "passes" in run else ""
        peak = run.get("peak_extra_mb_per_worker", [run.get("peak_extra_mb", 0.0)])
        eff = ""
        if r["setting"] == "dask-2":
            one = by.get((r["method"], r["n_pool"], "dask-1"), {}).get("median_s")
            if one:
                eff = f"{one / (2 * r['median_s']):.2f}"
        lines.append(
            f"| {r['method']} | {r['n_pool']:.0e} | {r['setting']} | {r['median_s']:.1f} | "
            f"{passes} | {max(peak):.0f} | {eff} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
