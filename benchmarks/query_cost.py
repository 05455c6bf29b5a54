"""The whole query at its cost floor: encode + MC dropout + scoring + selection, by stage.

A pool of ``--pool`` random-contrast images of ``--size`` x ``--size``; the segmenter of
the segmentation protocol's cpu profile (DCAN-like FCN, width 8, depth 3, 3 classes)
with its dropout in the head or in the blocks; an MMD-VAE encoder with 32 latent
dimensions (weights after a short fit: the cost does not depend on them). Each stage is
timed beside its floor, measured in the same process on the same data:

- ``mc``: ``estimate_uncertainty`` (17 passes, reduced to one value per image). Floor
  with dropout in the head: one trunk pass plus 17 deterministic head passes (plain
  torch loops under ``inference_mode``); in the blocks: 17 deterministic forward
  passes. Peers on ``--peer-images`` images, per image: the naive loop (17 full
  passes under ``model.train()``) and baal's ``MCDropoutModule``;
- ``encode``: the strategy's encoder over the pool; floor: a plain loop of
  ``module.encode``;
- ``score``: BSQ top (two Gaussians and the scores of every image) and greedy (32
  picks); floor: ``scipy.special.log_ndtr`` over 2 x N x d values in place;
- ``descriptors`` and ``max_cover``: Suggestive Annotation's image descriptors (one
  trunk pass) and its max-cover of the ``n_uncertain`` shortlist over the pool;
- whole queries: ``UncertaintyQuery``, ``SuggestiveAnnotationQuery`` and
  ``BayesianSampleQuery`` top and greedy (over the whole pool, no shortlist), batch 32.

Medians over ``--repeats`` runs (``--query-repeats`` for the whole queries; min and max
kept). JSON out::

    python benchmarks/query_cost.py --repeats 2 --query-repeats 1 \
        --out docs/results/query-cost/cpu.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine_info, peak_rss_mb


def _timed(fn, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return {
        "median_s": float(np.median(seconds)),
        "min_s": min(seconds),
        "max_s": max(seconds),
    }


def _loop(module_fn, X, batch_size, device):
    import torch

    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            module_fn(torch.from_numpy(X[start : start + batch_size]).to(device)[:, None])


def _placement(dropout, X, X_labeled, y_fit, args):
    import torch
    from scipy.special import log_ndtr

    from bsqkit import (
        BayesianSampleQuery,
        SuggestiveAnnotationQuery,
        UncertaintyQuery,
    )
    from bsqkit.functional import (
        bsq_scores,
        fit_bsq_gaussians,
        greedy_bsq_selection,
        greedy_max_cover,
        top_k,
    )
    from bsqkit.nets import MMDVAEEncoder, NeuralNetSegmenter
    from bsqkit.query import estimate_uncertainty

    device, n_mc, batch = args.device, args.n_mc, args.batch_size
    seg = NeuralNetSegmenter(
        n_classes=3,
        max_steps=5,
        batch_size=16,
        inference_batch_size=batch,
        module__width=8,
        module__depth=3,
        dropout=dropout,
        device=device,
        progress_bar=False,
        random_state=0,
    ).fit(X[:32], y_fit)
    encoder = MMDVAEEncoder(
        n_latent=32,
        input_size=args.size,
        max_epochs=1,
        device=device,
        progress_bar=False,
        random_state=0,
    ).fit(X[:64])
    module = seg.module_.eval()
    vae = encoder.module_.eval()
    r = args.repeats
    out = {"dropout": dropout}

    # -- MC dropout and its floor ------------------------------------------------------
    out["mc"] = _timed(lambda: estimate_uncertainty(seg, X, n_mc=n_mc, random_state=0), r)
    out["forward"] = _timed(lambda: _loop(module, X, batch, device), r)
    if dropout == "head":
        size = (args.size, args.size)
        out["trunk"] = _timed(lambda: _loop(module.trunk, X, batch, device), r)
        with torch.inference_mode():
            feats = [
                module.trunk(torch.from_numpy(X[s : s + batch]).to(device)[:, None])
                for s in range(0, len(X), batch)
            ]

        def heads():
            with torch.inference_mode():
                for f in feats:
                    module.head(f, size)

        out["head"] = _timed(heads, r)
        del feats
        floor = out["trunk"]["median_s"] + n_mc * out["head"]["median_s"]
    else:
        floor = n_mc * out["forward"]["median_s"]
    out["mc_floor_s"] = floor
    out["mc_over_floor"] = out["mc"]["median_s"] / floor

    # peers on a subset, compared per image
    sub = X[: args.peer_images]

    def full_passes(model):
        with torch.no_grad():
            for s in range(0, len(sub), batch):
                x = torch.from_numpy(sub[s : s + batch]).to(device)[:, None]
                torch.stack([torch.softmax(model(x), 1) for _ in range(n_mc)])

    naive = copy.deepcopy(module).train()
    out["naive_subset"] = _timed(lambda: full_passes(naive), r)
    try:
        from baal.bayesian.dropout import MCDropoutModule

        baal_model = MCDropoutModule(copy.deepcopy(module)).eval()
        out["baal_subset"] = _timed(lambda: full_passes(baal_model), r)
    except ImportError:
        out["baal_subset"] = {"skipped": "baal not installed (pip install baal)"}
    out["mc_subset"] = _timed(lambda: estimate_uncertainty(seg, sub, n_mc=n_mc), r)
    per_image = out["mc_subset"]["median_s"]
    out["naive_over_bsqkit"] = out["naive_subset"]["median_s"] / per_image
    if "median_s" in out["baal_subset"]:
        out["baal_over_bsqkit"] = out["baal_subset"]["median_s"] / per_image

    # -- encoder ----------------------------------------------------------------------
    out["encode"] = _timed(lambda: encoder.transform(X), r)
    out["encode_floor"] = _timed(lambda: _loop(vae.encode, X, batch, device), r)
    out["encode_over_floor"] = out["encode"]["median_s"] / out["encode_floor"]["median_s"]

    # -- scoring ----------------------------------------------------------------------
    codes = np.asarray(encoder.transform(X))
    labeled = codes[: len(X_labeled)]

    def score_top():
        mu_p, s_p, mu_a, s_a = fit_bsq_gaussians([codes], labeled)
        top_k(bsq_scores(codes, mu_p, s_p, mu_a, s_a), 32)

    def score_greedy():
        mu_p, s_p, _, _ = fit_bsq_gaussians([codes], labeled)
        greedy_bsq_selection(codes, labeled, mu_p, s_p, 32)

    values = np.random.RandomState(0).normal(size=2 * codes.size)
    np.negative(np.abs(values, out=values), out=values)
    scratch = np.empty_like(values)
    out["score_top"] = _timed(score_top, r)
    out["score_greedy"] = _timed(score_greedy, r)
    out["log_phi_floor"] = _timed(lambda: log_ndtr(values, out=scratch), r)
    out["top_over_floor"] = out["score_top"]["median_s"] / out["log_phi_floor"]["median_s"]
    out["greedy_over_top"] = out["score_greedy"]["median_s"] / out["score_top"]["median_s"]

    # -- Suggestive Annotation's selection ------------------------------------------------
    descriptors = seg.image_descriptors(X)
    out["descriptors"] = _timed(lambda: seg.image_descriptors(X), r)
    shortlist = descriptors[: args.n_uncertain]
    out["max_cover"] = _timed(
        lambda: greedy_max_cover(shortlist, descriptors, 32, device=device), r
    )

    # -- whole queries -------------------------------------------------------------------
    strategies = {
        "Uncertainty": UncertaintyQuery(n_instances=32, n_mc=n_mc, random_state=0),
        "Suggestive Annotation": SuggestiveAnnotationQuery(
            n_instances=32, n_uncertain=args.n_uncertain, n_mc=n_mc, random_state=0
        ),
        "BSQ top": BayesianSampleQuery(encoder=encoder, n_instances=32, random_state=0),
        "BSQ greedy": BayesianSampleQuery(
            encoder=encoder, batch_mode="greedy", n_instances=32, random_state=0
        ),
    }
    out["queries"] = {}
    for name, strategy in strategies.items():
        strategy.fit(X)  # a fitted encoder is reused, not refitted

        def query(strategy=strategy):
            strategy.query(X, X_labeled=X_labeled, estimator=seg)

        out["queries"][name] = _timed(query, args.query_repeats or r)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _table(results):
    lines = [
        f"{'dropout':<8}{'stage':<22}{'bsqkit s':>10}{'floor s':>10}{'ratio':>8}",
    ]
    for res in results:
        d = res["dropout"]
        rows = [
            ("MC dropout", res["mc"]["median_s"], res["mc_floor_s"]),
            ("encode", res["encode"]["median_s"], res["encode_floor"]["median_s"]),
            ("BSQ top scoring", res["score_top"]["median_s"], res["log_phi_floor"]["median_s"]),
            ("BSQ greedy scoring", res["score_greedy"]["median_s"], res["score_top"]["median_s"]),
        ]
        for name, ours, floor in rows:
            lines.append(f"{d:<8}{name:<22}{ours:>10.3f}{floor:>10.3f}{ours / floor:>8.2f}")
        lines.append(f"{d:<8}{'naive / bsqkit MC':<22}{'':>20}{res['naive_over_bsqkit']:>8.2f}")
        if "baal_over_bsqkit" in res:
            lines.append(f"{d:<8}{'baal / bsqkit MC':<22}{'':>20}{res['baal_over_bsqkit']:>8.2f}")
        for name, t in res["queries"].items():
            lines.append(f"{d:<8}{'query ' + name:<22}{t['median_s']:>10.3f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--labelled", type=int, default=100)
    parser.add_argument("--peer-images", type=int, default=256)
    parser.add_argument("--n-mc", type=int, default=17)
    parser.add_argument("--n-uncertain", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--query-repeats",
        type=int,
        default=None,
        help="runs of each whole query (default: --repeats); at 1e4 images an uncertainty "
        "query is minutes on the CPU",
    )
    parser.add_argument("--dropout", nargs="+", default=["head", "blocks"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="benchmarks/results/query_cost.json")
    args = parser.parse_args(argv)
    from bsqkit._io import write_json_atomic

    rng = np.random.RandomState(0)
    contrast = rng.uniform(0.1, 3.0, size=(args.pool + args.labelled, 1, 1))
    images = (rng.rand(args.pool + args.labelled, args.size, args.size) * contrast).astype(
        np.float32
    )
    X, X_labeled = images[: args.pool], images[args.pool :]
    y_fit = (X[:32] / 3 * 3).astype(np.int64).clip(0, 2)
    results = []
    for dropout in args.dropout:
        results.append(_placement(dropout, X, X_labeled, y_fit, args))
        print(json.dumps(results[-1]), flush=True)
        write_json_atomic(
            args.out, {"machine": machine_info(), "args": vars(args), "results": results}
        )
    print(_table(results))


if __name__ == "__main__":
    main()
