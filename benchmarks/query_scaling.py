"""Time and peak memory of each strategy's selection step as the pool grows.

Pools of precomputed codes (N in {1e4, 1e5, 1e6}, d in {5, 200}; 100 labeled codes, a
batch of 32, n_uncertain 64). Every method runs in a fresh subprocess (so peak memory is
its own) against the same data and the same fitted logistic regression for the
uncertainty-based methods; bsqkit and the peers (modAL, scikit-activeml) in the same run.
Methods whose memory grows as N^2 (modAL's information_density) run only where the
N x N matrix fits. A call that exceeds --timeout is recorded as such.

    pip install -e ".[bench]" && pip install --no-deps modAL-python==0.4.2.1
    python benchmarks/query_scaling.py --out benchmarks/results/query_scaling.json
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

N_LABELED, BATCH, N_UNCERTAIN, N_CLASSES = 100, 32, 64, 10


def _data(n_pool: int, d: int, seed: int):
    rng = np.random.RandomState(seed)
    codes = rng.normal(size=(N_LABELED + n_pool, d))
    weights = rng.normal(size=(d, N_CLASSES))
    y = (codes @ weights).argmax(axis=1)
    y[:N_CLASSES] = np.arange(N_CLASSES)  # every class among the labeled
    return codes[:N_LABELED], y[:N_LABELED], codes[N_LABELED:]


def _method(name: str, X_lab, y_lab, X_pool, seed: int):
    """Return a zero-argument callable running the selection step of ``name``."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=200).fit(X_lab, y_lab)
    if name.startswith("bsqkit"):
        import bsqkit
        import bsqkit.preprocessing

        strategy = {
            "bsqkit Random": lambda: bsqkit.RandomQuery(random_state=seed),
            "bsqkit Uncertainty": lambda: bsqkit.UncertaintyQuery(random_state=seed),
            "bsqkit BSQ top": lambda: bsqkit.BayesianSampleQuery(random_state=seed),
            "bsqkit BSQ greedy": lambda: bsqkit.BayesianSampleQuery(
                batch_mode="greedy", random_state=seed
            ),
            "bsqkit BSQ top +unc": lambda: bsqkit.BayesianSampleQuery(
                n_uncertain=N_UNCERTAIN, random_state=seed
            ),
            "bsqkit SuggestiveAnnotation": lambda: bsqkit.SuggestiveAnnotationQuery(
                descriptor=bsqkit.preprocessing.FlattenTransformer(),
                n_uncertain=N_UNCERTAIN,
                random_state=seed,
            ),
            "bsqkit CoreSet": lambda: bsqkit.CoreSetQuery(random_state=seed),
        }[name]()
        return lambda: strategy.query(X_pool, estimator=clf, X_labeled=X_lab, n_instances=BATCH)[0]
    if name.startswith("modAL"):
        from modAL.batch import uncertainty_batch_sampling
        from modAL.density import information_density
        from modAL.models import ActiveLearner
        from modAL.uncertainty import uncertainty_sampling

        if name == "modAL uncertainty_sampling":  # like for like: bsqkit Uncertainty
            learner = ActiveLearner(estimator=clf, X_training=X_lab, y_training=y_lab)
            return lambda: uncertainty_sampling(learner.estimator, X_pool, n_instances=BATCH)[0]
        if name == "modAL uncertainty_batch_sampling":  # ranked batch: plus diversity
            learner = ActiveLearner(estimator=clf, X_training=X_lab, y_training=y_lab)
            return lambda: uncertainty_batch_sampling(learner, X_pool, n_instances=BATCH)[0]
        if name == "modAL information_density":
            return lambda: np.argsort(-information_density(X_pool))[:BATCH]
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import CoreSet, TypiClust, UncertaintySampling

    X_all = np.vstack([X_lab, X_pool])
    y_all = np.full(len(X_all), np.nan)
    y_all[:N_LABELED] = y_lab
    if name == "skactiveml CoreSet":
        qs = CoreSet(random_state=seed)
        return lambda: qs.query(X_all, y_all, batch_size=BATCH)
    if name == "skactiveml TypiClust":
        qs = TypiClust(random_state=seed)
        return lambda: qs.query(X_all, y_all, batch_size=BATCH)
    if name == "skactiveml UncertaintySampling":
        sk_clf = SklearnClassifier(
            LogisticRegression(max_iter=200), classes=np.arange(N_CLASSES), random_state=seed
        ).fit(X_all, y_all)
        qs = UncertaintySampling(method="entropy", random_state=seed)
        return lambda: qs.query(X_all, y_all, clf=sk_clf, fit_clf=False, batch_size=BATCH)
    raise ValueError(name)


METHODS = [
    "bsqkit Random",
    "bsqkit Uncertainty",
    "bsqkit BSQ top",
    "bsqkit BSQ greedy",
    "bsqkit BSQ top +unc",
    "bsqkit SuggestiveAnnotation",
    "bsqkit CoreSet",
    "modAL uncertainty_sampling",
    "modAL uncertainty_batch_sampling",
    "modAL information_density",
    "skactiveml UncertaintySampling",
    "skactiveml CoreSet",
    "skactiveml TypiClust",
]
QUADRATIC = {"modAL information_density"}


def _measure(name, n_pool, d, seed):
    X_lab, y_lab, X_pool = _data(n_pool, d, seed)
    run = _method(name, X_lab, y_lab, X_pool, seed)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    idx = np.asarray(run())
    elapsed = time.perf_counter() - start
    if len(np.unique(idx)) != BATCH:
        return {"error": "selection is not a batch of unique indices"}
    return {"seconds": elapsed, "peak_extra_mb": max(peak_rss_mb() - rss_before, 0.0)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[5, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--max-seeds-large", type=int, default=1, help="seeds for pools of 1e6 (each run is long)"
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument(
        "--quadratic-max",
        type=int,
        default=20_000,
        help="largest pool for methods with N x N memory",
    )
    parser.add_argument("--out", default="benchmarks/results/query_scaling.json")
    args = parser.parse_args(argv)
    from bsqkit._io import write_json_atomic

    info = machine_info(batch=BATCH, n_labeled=N_LABELED, n_uncertain=N_UNCERTAIN)

    rows = []
    for d in args.dims:
        for n_pool in args.sizes:
            seeds = args.seeds if n_pool < 1_000_000 else args.seeds[: args.max_seeds_large]
            for name in args.methods:
                if name in QUADRATIC and n_pool > args.quadratic_max:
                    rows.append(
                        {
                            "method": name,
                            "n_pool": n_pool,
                            "d": d,
                            "skipped": "N x N matrix does not fit in memory",
                        }
                    )
                    continue
                runs = [run_isolated(_measure, (name, n_pool, d, s), args.timeout) for s in seeds]
                row = {"method": name, "n_pool": n_pool, "d": d, "seeds": seeds, "runs": runs}
                ok = [r["seconds"] for r in runs if "seconds" in r]
                if ok:
                    row["median_s"] = float(np.median(ok))
                    row["min_s"], row["max_s"] = float(min(ok)), float(max(ok))
                    row["peak_extra_mb"] = float(
                        max(r["peak_extra_mb"] for r in runs if "seconds" in r)
                    )
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
                write_json_atomic(args.out, {"machine": info, "rows": rows})
    write_json_atomic(args.out, {"machine": info, "rows": rows})
    print(format_table(rows))


def format_table(rows):
    """Markdown table: median seconds (min-max), peak extra MB, ratio to bsqkit Random."""
    base = {
        (r["n_pool"], r["d"]): r.get("median_s") for r in rows if r["method"] == "bsqkit Random"
    }
    lines = [
        "| method | N | d | median s (min-max) | x Random | peak extra MB |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        if "median_s" in r:
            ratio = (
                r["median_s"] / base[(r["n_pool"], r["d"])]
                if base.get((r["n_pool"], r["d"]))
                else float("nan")
            )
            lines.append(
                f"| {r['method']} | {r['n_pool']:.0e} | {r['d']} | {r['median_s']:.3g} "
                f"({r['min_s']:.3g}-{r['max_s']:.3g}) | {ratio:.3g} | {r['peak_extra_mb']:.0f} |"
            )
        else:
            why = r.get("skipped") or "; ".join(
                str(x.get("error") or f"timeout {x.get('timeout')} s") for x in r["runs"]
            )
            lines.append(f"| {r['method']} | {r['n_pool']:.0e} | {r['d']} | {why} | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
