"""Every strategy's picks and scores on fixed pools and seeds, to the last bit: run it
before and after a refactor that must change nothing, and compare the two files.

    python benchmarks/picks_fingerprint.py --out before.json
    # ... the refactor ...
    python benchmarks/picks_fingerprint.py --out after.json --compare before.json

Pools: scikit-learn's digits (flattened, and as 8 x 8 images), a logistic regression
and a small NeuralNetSegmenter (MC dropout); plain and group queries; BSQ top and
greedy with and without a shortlist, Suggestive Annotation, CoreSet, Uncertainty,
Random and Random (foreground); the functional selections (greedy BSQ at d = 200,
k-center, max-cover) on random codes. Scores are written as ``float.hex``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression


class _Describing(LogisticRegression):
    def image_descriptors(self, X):
        return self.decision_function(np.asarray(X).reshape(len(X), -1))


def _record(idx, scores, details=None) -> dict:
    out = {
        "indices": [int(i) for i in idx],
        "scores": [float(s).hex() for s in np.asarray(scores, float)],
    }
    for key, values in (details or {}).items():
        out[key] = [float(v).hex() for v in values]
    return out


def fingerprint() -> dict:
    from bsqkit import (
        BayesianSampleQuery,
        CoreSetQuery,
        ForegroundRandomQuery,
        RandomQuery,
        SuggestiveAnnotationQuery,
        UncertaintyQuery,
    )
    from bsqkit.functional import greedy_bsq_selection, greedy_max_cover, k_center_greedy
    from bsqkit.nets import NeuralNetSegmenter

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_labeled, y_labeled, X_pool = X[:40], y[:40], X[40:640]
    clf = _Describing(max_iter=500).fit(X_labeled, y_labeled)
    groups = np.random.RandomState(3).permutation(np.arange(len(X_pool)) % 37)
    images = X.reshape(-1, 8, 8).astype(np.float32)
    seg = NeuralNetSegmenter(
        n_classes=3, max_steps=5, module__width=4, module__depth=2, random_state=0,
        progress_bar=False,
    ).fit(images[:30], (images[:30] > 0.3).astype(np.int64) + (images[:30] > 0.8))  # fmt: skip

    def strategies(seed):
        return {
            "random": RandomQuery(random_state=seed),
            "uncertainty": UncertaintyQuery(n_mc=5, random_state=seed),
            "bsq-top": BayesianSampleQuery(encoder=PCA(6, random_state=0), random_state=seed),
            "bsq-greedy": BayesianSampleQuery(
                encoder=PCA(6, random_state=0), batch_mode="greedy", random_state=seed
            ),
            "bsq-top-shortlist": BayesianSampleQuery(
                encoder=PCA(6, random_state=0), n_uncertain=40, random_state=seed
            ),
            "bsq-greedy-shortlist": BayesianSampleQuery(
                encoder=PCA(6, random_state=0),
                n_uncertain=40,
                batch_mode="greedy",
                random_state=seed,
            ),
            "suggestive": SuggestiveAnnotationQuery(n_uncertain=30, random_state=seed),
            "coreset": CoreSetQuery(encoder=PCA(6, random_state=0), random_state=seed),
            "random-foreground": ForegroundRandomQuery(random_state=seed),
        }

    out = {}
    for seed in (0, 1):
        for name, strategy in strategies(seed).items():
            for grouped in (False, True):
                g = groups if grouped else None
                n = 3 if grouped else 7
                idx, scores = strategy.query(
                    X_pool, estimator=clf, X_labeled=X_labeled, n_instances=n, groups=g
                )
                out[f"{name}/seed{seed}/{'groups' if grouped else 'plain'}"] = _record(
                    idx, scores, strategy.pick_details_
                )
        for name in ("uncertainty", "bsq-greedy-shortlist", "suggestive"):
            strategy = strategies(seed)[name]
            strategy.set_params(n_mc=5)
            idx, scores = strategy.query(
                images[40:400], estimator=seg, X_labeled=images[:40], n_instances=5
            )
            out[f"{name}/seed{seed}/segmenter"] = _record(idx, scores, strategy.pick_details_)
    rng = np.random.RandomState(0)
    codes = rng.normal(size=(3000, 200))
    annotated = codes[:50] + 0.3
    mu, sigma = codes.mean(0), codes.std(0)
    picks, scores = greedy_bsq_selection(codes, annotated, mu, sigma, 20)
    out["functional/greedy_bsq_d200"] = _record(picks, scores)
    picks, scores = k_center_greedy(codes[:, :20], annotated[:, :20], 15, random_state=0)
    out["functional/k_center"] = _record(picks, scores)
    picks, gains = greedy_max_cover(codes[:64, :20], codes[:, :20], 10)
    out["functional/max_cover"] = _record(picks, gains)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--compare", help="an earlier output: report every difference")
    args = parser.parse_args()
    result = fingerprint()
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True))
    print(f"{len(result)} queries written to {args.out}")
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        differ = sorted(k for k in before.keys() | result.keys() if before.get(k) != result.get(k))
        print(f"{len(differ)} of {len(result)} differ from {args.compare}: {differ}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
