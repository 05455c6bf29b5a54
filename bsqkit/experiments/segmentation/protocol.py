"""One method on one holdout (slice- or volume-based, resumable), and the budgets that
must hold before any training."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bsqkit._io import save_params_atomic
from bsqkit.catalogue import find_method, make_segmenter, make_strategy
from bsqkit.exceptions import InputError
from bsqkit.experiments.segmentation.evaluation import evaluate_subjects
from bsqkit.experiments.segmentation.methods import METHODS
from bsqkit.profiles import budget_count

__all__ = ["STRATEGY_SEED_STRIDE", "check_budgets", "run_holdout"]

# a strategy's seed at iteration k is seed * STRATEGY_SEED_STRIDE + k: a prime larger
# than any iteration count, so that no two (seed, iteration) pairs share a seed
STRATEGY_SEED_STRIDE = 1009


def annotation_units(split: dict, mode: str) -> NDArray[np.intp]:
    """The annotation unit of each pool slice: itself, or its volume (numbered from 0)."""
    if mode == "slice":
        return np.arange(len(split["X_pool"]))
    return np.unique(split["pool_ids"], return_inverse=True)[1].reshape(-1)


def run_holdout(
    split: dict,
    method: str,
    profile: dict,
    n_classes: int,
    encoder: Any = None,
    mode: str = "slice",
    holdout: int = 0,
    device: str = "cpu",
    seed: int = 0,
    state: dict | None = None,
    on_iteration: Callable[[dict], None] | None = None,
    checkpoint: str | Path | None = None,
) -> dict:
    """One method on one holdout, slice- or volume-based; resumable.

    An interrupted run continues from ``state`` (what ``on_iteration`` last received;
    with warm retraining, the last model is read from ``checkpoint``); every random
    choice is seeded per iteration, so a resumed run equals an uninterrupted one.

    Parameters
    ----------
    split : dict
        From :func:`~bsqkit.experiments.segmentation.data.split_holdout`.
    method : str
        One of :data:`METHODS`.
    profile : dict
        Validated (:func:`load_profile`).
    n_classes : int
        Classes including background.
    encoder : transformer, optional
        The holdout's fitted MMD-VAE (needed by the BSQ methods).
    mode : {"slice", "volume"}, default="slice"
        Annotate single slices, or whole volumes (all slices of a subject at once).
    holdout : int, default=0
        Stored in the records; seeds the initial set with ``seed``.
    device : str, default="cpu"
        Torch device the segmenter trains and predicts on, such as ``"cpu"`` or ``"cuda"``.
    seed : int, default=0
        Seeds the initial set (with ``holdout``), the segmenter's training and the
        strategy's random choices.
    state : dict, optional
        A partial state to resume from.
    on_iteration : callable, optional
        Called with the state after every iteration (e.g. to save it).
    checkpoint : str or Path, optional
        With warm retraining, the stem of the model files: iteration ``k``'s model is
        ``<stem>_itKK.pt``, kept until the state names a newer one.

    Returns
    -------
    dict
        ``annotated`` (pool slice indices in query order), ``records`` (one per
        iteration: annotated slices, their percentage, annotated volumes, Dice and MSD
        means and per structure), ``finished``, ``stop`` (why the run ended).

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import load_profile, run_holdout
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset, split_holdout
    >>> profile = load_profile("cpu")
    >>> profile.update(image_size=24, n_mc=2)
    >>> profile["slice"].update(n_init=8, n_uncertain=8, n_instances=4, until=12)
    >>> profile["segmenter"].update(max_steps=2, width=4, depth=2)
    >>> data = prepare_dataset("phantom", image_size=24, n_subjects=3, phantom_size=3)
    >>> split = split_holdout(data, profile["split"], holdout=0)
    >>> out = run_holdout(split, "Uncertainty", profile, n_classes=5)
    >>> [(r["iteration"], r["n_annotated"]) for r in out["records"]], out["stop"]
    ([(0, 8), (1, 12)], 'reached until (12 slices)')
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if mode not in ("slice", "volume"):
        raise ValueError(f"mode must be 'slice' or 'volume', got {mode!r}")
    X, y = split["X_pool"], split["y_pool"]
    if method != "Upper bound":
        method = find_method(method).name  # a command-line name or alias, as displayed
    units = annotation_units(split, mode)
    n_pool = len(X)
    budget = check_budgets(split, profile, mode, (method,))
    n_units, n_init, n_query, until = (
        budget[k] for k in ("n_units", "n_init", "n_instances", "until")
    )
    n_uncertain = budget["n_uncertain"]
    n_iterations = profile[mode].get("n_iterations")
    labels = list(range(1, n_classes))
    warm = profile["segmenter"]["retrain"] == "warm"
    eval_subjects = split["test"]

    def train(annotated: list[int], previous: Any) -> Any:
        if not (warm and previous is not None):
            return make_segmenter(profile, n_classes, device, seed).fit(X[annotated], y[annotated])
        # fine-tune the previous model (its weights, a fresh optimiser) for fewer steps
        steps = profile["segmenter"]["warm_steps"]
        seg = make_segmenter(profile, n_classes, device, seed, max_steps=steps, warm_start=True)
        seg.initialize()
        seg.module_.load_state_dict(previous.module_.state_dict())
        return seg.fit(X[annotated], y[annotated])

    def record(seg: Any, annotated: list[int], iteration: int) -> dict:
        scores = evaluate_subjects(
            seg,
            eval_subjects,
            labels,
            profile["evaluation"]["resized_grid"],
            split.get("class_names"),
        )
        return {
            "holdout": holdout,
            "method": method,
            "mode": mode,
            "iteration": iteration,
            "n_annotated": len(annotated),
            "n_volumes": len(set(units[annotated].tolist())) if mode == "volume" else None,
            "annotated_pct": 100.0 * len(annotated) / n_pool,
            **scores,
        }

    if method == "Upper bound":
        everything = list(range(n_pool))
        seg = make_segmenter(profile, n_classes, device, seed).fit(X, y)
        rec = record(seg, everything, 0)
        return {"annotated": everything, "records": [rec], "finished": True, "stop": "all"}
    if state is None:
        first = np.random.RandomState(seed + holdout).choice(n_units, n_init, replace=False)
        annotated = [int(i) for i in np.flatnonzero(np.isin(units, first))]
        records: list[dict] = []
    else:
        annotated, records = list(state["annotated"]), list(state["records"])
    previous = None
    if warm and records:
        # the model of the last finished iteration: fine-tuning any other would make the
        # resumed run differ from an uninterrupted one
        last = _checkpoint(checkpoint, len(records) - 1)
        if last is None or not last.exists():
            raise InputError(
                f"cannot resume with warm retraining: the model of iteration "
                f"{len(records) - 1} ({last}) is missing; delete the run's JSON to restart it"
            )
        previous = make_segmenter(profile, n_classes, device, seed).initialize()
        previous.load_params(f_params=last)
    stop = None
    iteration = len(records)
    while stop is None:
        seg = train(annotated, previous)
        records.append(record(seg, annotated, iteration))
        done = len(set(units[annotated].tolist()))
        open_ = np.flatnonzero(~np.isin(units, units[annotated]))
        if not len(open_):
            stop = f"the pool is used up ({n_units} {mode}s)"
        elif done >= until:
            stop = f"reached until ({until} {mode}s)"
        elif n_iterations is not None and iteration >= n_iterations:
            stop = f"n_iterations ({n_iterations}) done"
        else:
            strategy, _ = make_strategy(
                method,
                n_uncertain=n_uncertain,
                n_mc=profile["n_mc"],
                seed=seed * STRATEGY_SEED_STRIDE + iteration,
                encoder=encoder,
                segmenter=seg,
            )
            groups = units[open_] if mode == "volume" else None
            n_open = len(open_) if groups is None else len(np.unique(groups))
            idx, _ = strategy.query(
                X[open_],
                estimator=seg,
                X_labeled=X[annotated],
                n_instances=min(n_query, n_open),
                groups=groups,
                labeled_groups=None if groups is None else units[annotated],
            )
            annotated.extend(int(i) for i in open_[idx])
        if warm and checkpoint is not None and stop is None:
            save_params_atomic(seg, _checkpoint(checkpoint, iteration))
        previous = seg
        iteration += 1
        if on_iteration is not None and stop is None:
            on_iteration({"annotated": annotated, "records": records, "finished": False})
        if warm and checkpoint is not None and iteration >= 2:
            # the state now names the newer model: the older one is not needed
            _checkpoint(checkpoint, iteration - 2).unlink(missing_ok=True)
    return {"annotated": annotated, "records": records, "finished": True, "stop": stop}


def _checkpoint(stem: str | Path | None, iteration: int) -> Path | None:
    """The file of the model made at ``iteration`` (warm retraining)."""
    if stem is None:
        return None
    stem = Path(stem)
    return stem.with_name(f"{stem.stem}_it{iteration:02d}{stem.suffix or '.pt'}")


def check_budgets(split: dict, profile: dict, mode: str, methods: Sequence[str]) -> dict:
    """A profile's budgets as counts for this pool, refused before any training when
    they cannot work.

    Parameters
    ----------
    split : dict
        From :func:`~bsqkit.experiments.segmentation.data.split_holdout`.
    profile : dict
        A validated profile; its ``mode`` section holds the budgets.
    mode : {"slice", "volume"}
        Whether the budgets count slices or volumes of the pool.
    methods : sequence of str
        The methods to run (``n_uncertain`` matters for Suggestive Annotation and BSQ).

    Returns
    -------
    dict
        ``n_units`` (pool slices or volumes), ``n_init``, ``n_instances``,
        ``n_uncertain``, ``until``.

    Raises
    ------
    InputError
        A pool smaller than the initial set, ``until`` below ``n_init``, or an
        uncertainty shortlist smaller than the batch.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import check_budgets
    >>> from bsqkit.experiments.segmentation.data import prepare_dataset, split_holdout
    >>> from bsqkit.profiles import load_profile
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=3, phantom_size=3)
    >>> split = split_holdout(data, (0.70, 0.05, 0.25), holdout=0)
    >>> budget = check_budgets(split, load_profile("cpu"), "slice", ["BSQ top"])
    >>> budget["n_init"] >= 1 and budget["until"] >= budget["n_init"]
    True
    """
    units = annotation_units(split, mode)
    n_units = int(units.max()) + 1
    settings = profile[mode]
    out = {"n_units": n_units}
    for key in ("n_init", "n_instances", "n_uncertain"):
        out[key] = budget_count(settings[key], n_units)
    out["until"] = budget_count(settings.get("until", 1.0), n_units)
    if out["n_init"] > n_units:
        raise InputError(
            f"the pool has {n_units} {mode}s, fewer than the initial set ({out['n_init']}); "
            "lower n_init or use more subjects"
        )
    if "until" in settings and out["until"] < out["n_init"]:
        raise InputError(
            f"profile key '{mode}.until' ({out['until']} {mode}s) is below "
            f"'{mode}.n_init' ({out['n_init']})"
        )
    shortlisted = {"Suggestive Annotation", "BSQ top", "BSQ greedy"} & set(methods)
    if shortlisted and out["n_uncertain"] < out["n_instances"]:
        raise InputError(
            f"profile key '{mode}.n_uncertain' ({out['n_uncertain']} {mode}s) is below "
            f"'{mode}.n_instances' ({out['n_instances']}), which "
            f"{', '.join(sorted(shortlisted))} need"
        )
    return out
