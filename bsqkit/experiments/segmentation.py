"""The paper's segmentation protocol (Section 3) on any labelled NIfTI data set.

Subject-wise (group-wise) holdouts, 70 / 5 / 25 % of the groups, seeded; within a
holdout every method starts from the same initial slices (or volumes); the MMD-VAE is
trained once per holdout on the pool images only; the segmenter is retrained at every
iteration, from scratch with the same seed (the paper) or, with ``"retrain": "warm"``,
fine-tuned from the previous iteration's model for fewer steps. Budgets (initial set,
batch, uncertainty shortlist, end) are counts or fractions of the pool, so a profile
fits any data set; a run ends at ``until`` or when the pool is used up, and says which.
Test subjects are segmented slice by slice on the common grid, the predictions are
brought back to each subject's own grid and scored there: Dice and symmetric mean
surface distance (mm) per structure (3-D contours as in the paper, and in-plane
contours), with the number of structures predicted empty.

Volume-based mode: a volume is annotated whole, through the strategies' group queries
(``groups`` = the volume of each slice; scores aggregated by their mean, the paper's
volume score).

Data preparation lives in :mod:`bsqkit.experiments.segmentation_data`, the statistics
over holdouts in :mod:`bsqkit.experiments.statistics`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bsqkit.catalogue import METHODS as CATALOGUE
from bsqkit.catalogue import find_method, make_encoder, make_segmenter, make_strategy
from bsqkit.exceptions import InputError
from bsqkit.experiments.segmentation_data import (
    SlicedSubject,
    prepare_dataset,
    split_holdout,
    write_summary,
)
from bsqkit.metrics import dice_score, mean_surface_distance
from bsqkit.nets import MMDVAEEncoder
from bsqkit.profiles import budget_count, load_profile, validate_profile

__all__ = [
    "METHODS",
    "budget_count",
    "check_budgets",
    "evaluate_subjects",
    "load_profile",
    "noise_floor",
    "run_holdout",
    "run_segmentation_benchmark",
    "train_encoder",
    "validate_profile",
]

# the catalogue's methods, and the upper bound (the whole pool annotated)
METHODS = (*(m.name for m in CATALOGUE), "Upper bound")


def _strategy(method: str, n_uncertain: int, n_mc: int, encoder: Any, seg: Any, seed: int) -> Any:
    return make_strategy(
        method, n_uncertain=n_uncertain, n_mc=n_mc, seed=seed, encoder=encoder, segmenter=seg
    )[0]


def train_encoder(X_pool: NDArray, profile: dict, device: str, seed: int) -> MMDVAEEncoder:
    """The MMD-VAE of a holdout, trained once on the pool images only.

    Parameters
    ----------
    X_pool : ndarray of shape (n_slices, H, W)
        The pool's image slices on the common grid.
    profile : dict
        Uses the ``vae`` settings.
    device : str
        Torch device the MMD-VAE trains on, such as ``"cpu"`` or ``"cuda"``.
    seed : int
        ``random_state`` of the MMD-VAE.

    Returns
    -------
    MMDVAEEncoder

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.experiments.segmentation import load_profile, train_encoder
    >>> profile = load_profile("cpu")
    >>> profile["vae"].update(max_epochs=1, input_size=24, n_latent=4, width=4)
    >>> X_pool = np.random.RandomState(0).rand(32, 24, 24).astype("float32")
    >>> train_encoder(X_pool, profile, device="cpu", seed=0).transform(X_pool[:3]).shape
    (3, 4)
    """
    return make_encoder(profile, device, seed).fit(X_pool)


def evaluate_subjects(
    segmenter: Any,
    subjects: Sequence[SlicedSubject],
    labels: Sequence[int],
    resized_grid: bool = False,
    names: Sequence[str] | None = None,
) -> dict:
    """Dice and MSD on each test subject's own grid, per structure and their means.

    Each subject's slices are segmented on the common grid and the label maps brought
    back to the subject's grid (nearest neighbour), where they are compared with the
    subject's own labels with its own voxel spacing.

    Parameters
    ----------
    segmenter : estimator
        Anything with ``predict(X)`` returning label slices of shape (n_slices, H, W).
    subjects : sequence of SlicedSubject
        The subjects to score: each one's slices ``X`` are segmented, and the prediction
        is compared with its ``native_label``.
    labels : sequence of int
        The structures to score (background excluded).
    resized_grid : bool, default=False
        Also score on the common grid (``dice_resized``, ``msd_resized``), labelled as
        such: not comparable with native-grid numbers.
    names : sequence of str, optional
        The class name of each of ``labels``: the per-class scores are also given by
        name, as ``dice:<name>`` and ``msd:<name>``.

    Returns
    -------
    dict
        ``dice``, ``msd`` (paper's 3-D contours) and ``msd_in_plane`` (means over
        subjects and structures), their ``*_per_structure`` lists, per class by name
        with ``names``, and ``n_empty_predictions``: the structures present in a
        subject but predicted nowhere (each scores the image diagonal in MSD).

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import evaluate_subjects
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset
    >>> data = prepare_dataset("phantom", image_size=32, n_subjects=1, phantom_size=1)
    >>> class Oracle:  # predicts the truth on the common grid
    ...     def predict(self, X):
    ...         return data.subjects[0].y
    ...
    >>> result = evaluate_subjects(Oracle(), data.subjects, labels=[1, 2, 3, 4])
    >>> result["dice"] > 0.85, result["n_empty_predictions"]  # resampling costs a little
    (True, 0)
    """
    dice, msd, msd_plane, resized, empty = [], [], [], [], 0
    for s in subjects:
        pred_grid = np.asarray(segmenter.predict(s.X))
        pred = s.grid.from_grid(pred_grid)
        truth, spacing = s.native_label, s.grid.spacing
        dice.append(dice_score(pred, truth, labels))
        msd.append([mean_surface_distance(pred == c, truth == c, spacing) for c in labels])
        msd_plane.append(
            [
                mean_surface_distance(pred == c, truth == c, spacing, contour="in-plane")
                for c in labels
            ]
        )
        empty += sum(int((truth == c).any() and not (pred == c).any()) for c in labels)
        if resized_grid:
            grid_spacing = (spacing[0], s.grid.pixel_mm, s.grid.pixel_mm)
            resized.append(
                [
                    dice_score(pred_grid, s.y, labels).mean(),
                    np.mean(
                        [
                            mean_surface_distance(pred_grid == c, s.y == c, grid_spacing)
                            for c in labels
                        ]
                    ),
                ]
            )
    dice, msd, msd_plane = (np.mean(v, axis=0) for v in (dice, msd, msd_plane))
    out = {
        "dice": float(dice.mean()),
        "msd": float(msd.mean()),
        "msd_in_plane": float(msd_plane.mean()),
        "dice_per_structure": dice.tolist(),
        "msd_per_structure": msd.tolist(),
        "msd_in_plane_per_structure": msd_plane.tolist(),
        "n_empty_predictions": empty,
    }
    if names is not None:
        for name, d, m in zip(names, dice, msd, strict=True):
            out[f"dice:{name}"], out[f"msd:{name}"] = float(d), float(m)
    if resized_grid:
        out["dice_resized"], out["msd_resized"] = (float(v) for v in np.mean(resized, axis=0))
    return out


def _units(split: dict, mode: str) -> NDArray[np.intp]:
    """The annotation unit of each pool slice: itself, or its volume."""
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
        From :func:`~bsqkit.experiments.segmentation_data.split_holdout`.
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
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset, split_holdout
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
    units = _units(split, mode)
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
            strategy = _strategy(
                method, n_uncertain, profile["n_mc"], encoder, seg, seed * 1009 + iteration
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
            _save_params(seg, _checkpoint(checkpoint, iteration))
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
        From :func:`~bsqkit.experiments.segmentation_data.split_holdout`.
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
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset, split_holdout
    >>> from bsqkit.profiles import load_profile
    >>> data = prepare_dataset("phantom", image_size=16, n_subjects=3, phantom_size=3)
    >>> split = split_holdout(data, (0.70, 0.05, 0.25), holdout=0)
    >>> budget = check_budgets(split, load_profile("cpu"), "slice", ["BSQ top"])
    >>> budget["n_init"] >= 1 and budget["until"] >= budget["n_init"]
    True
    """
    units = _units(split, mode)
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


def _save_params(net: Any, path: str | Path) -> None:
    from bsqkit._io import atomic_path

    with atomic_path(path) as tmp:
        net.save_params(f_params=tmp)


def noise_floor(
    split: dict,
    profile: dict,
    n_classes: int,
    n_annotated: int,
    n_seeds: int,
    device: str = "cpu",
    seed: int = 0,
    holdout: int = 0,
) -> list[dict]:
    """Dice of ``n_seeds`` trainings on one random annotated set: the retraining noise
    against which differences between methods are judged.

    Parameters
    ----------
    split : dict
        From :func:`~bsqkit.experiments.segmentation_data.split_holdout`: the annotated
        set is drawn from its pool, the scores are on its test subjects.
    profile : dict
        A validated profile; uses the ``segmenter`` settings.
    n_classes : int
        Classes including background.
    n_annotated : int
        Size of the annotated set (slices).
    n_seeds : int
        Trainings, each with its own seed (initialisation, batches, flips, dropout).
    device : str, default="cpu"
        Torch device the segmenter trains and predicts on, such as ``"cpu"`` or ``"cuda"``.
    seed, holdout : int, default=0
        Together seed the draw of the annotated set; training ``k`` uses seed ``seed + k``.
        ``holdout`` is also stored in the records.

    Returns
    -------
    list of dict
        One record per training seed: ``dice``, ``msd``...

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import load_profile, noise_floor
    >>> from bsqkit.experiments.segmentation_data import prepare_dataset, split_holdout
    >>> profile = load_profile("cpu")
    >>> profile["segmenter"].update(max_steps=2, width=4, depth=2)
    >>> data = prepare_dataset("phantom", image_size=24, n_subjects=3, phantom_size=3)
    >>> split = split_holdout(data, profile["split"], holdout=0)
    >>> [r["training_seed"] for r in noise_floor(split, profile, 5, 8, n_seeds=2)]
    [0, 1]
    """
    rng = np.random.RandomState(seed + holdout + 7919)
    annotated = rng.choice(len(split["X_pool"]), n_annotated, replace=False)
    X, y = split["X_pool"][annotated], split["y_pool"][annotated]
    records = []
    for k in range(n_seeds):
        seg = make_segmenter(profile, n_classes, device, seed + k).fit(X, y)
        scores = evaluate_subjects(
            seg, split["test"], list(range(1, n_classes)), names=split.get("class_names")
        )
        records.append(
            {"holdout": holdout, "training_seed": k, "n_annotated": int(n_annotated), **scores}
        )
    return records


def _run_key(data_id: dict, mode: str, settings: dict, seed: int, options: dict) -> str:
    return json.dumps(
        {"data": data_id, "mode": mode, "profile": settings, "seed": seed, **options},
        sort_keys=True,
    )


def run_segmentation_benchmark(
    data: str,
    out: str | Path,
    mode: str = "slice",
    profile: str | dict = "cpu",
    n_holdouts: int = 5,
    only: Sequence[int] | None = None,
    methods: Sequence[str] = METHODS,
    device: str = "cpu",
    seed: int = 0,
    progress: bool = True,
    slice_axis: int | str = "auto",
    group_by: str | None = None,
    groups_csv: str | None = None,
    n_subjects: int | None = None,
    collect: bool = False,
    summary_only: bool = False,
    phantom_size: int = 36,
    on_summary: Callable[[str], None] | None = None,
) -> dict:
    """Run (or resume, or collect) the protocol into ``out``.

    Before any training, ``summary.json`` and ``pool_examples.png`` describe the data
    as it was read (``summary_only`` stops there). ``out/holdout_<k>/vae.pt`` holds
    each holdout's MMD-VAE (trained once; ``vae.json`` says from which pool and
    settings, and a mismatch is refused); ``out/holdout_<k>/<mode>_<method>.json`` each
    run's state, rewritten atomically after every iteration: a finished run is never
    recomputed, an interrupted one resumes. ``only`` restricts the call to some
    holdouts, so that separate processes can run holdouts in parallel into the same
    ``out``; ``collect`` trains nothing and reads what is finished.

    Parameters
    ----------
    data : str
        ``"phantom"`` or a folder in any layout of :data:`bsqkit.datasets.LAYOUTS`.
    out : str or Path
        Output folder; created if needed.
    mode : {"slice", "volume"}, default="slice"
        Annotate single slices, or whole volumes (all slices of a subject at once).
    profile : str or dict, default="cpu"
        A profile name, JSON path or dict (:func:`load_profile`).
    n_holdouts : int, default=5
        Number of holdouts (random splits of the groups into pool, validation and test).
    only : sequence of int, optional
        Holdout indices to run in this call.
    methods : sequence of str, default=METHODS
        Methods to run on every holdout: names of :data:`METHODS`, or command-line names
        or aliases (:func:`~bsqkit.catalogue.find_method`).
    device : str, default="cpu"
        Torch device the networks train and predict on, such as ``"cpu"`` or ``"cuda"``.
    seed : int, default=0
        Seeds the phantom, the subject subset, the splits, the MMD-VAE, the segmenters and
        the strategies.
    progress : bool, default=True
        Show progress bars.
    slice_axis : "auto" or {0, 1, 2}, default="auto"
        See :func:`~bsqkit.datasets.slicing.choose_slice_axis`.
    group_by, groups_csv : str, optional
        Patient groups (splits are by group).
    n_subjects : int, optional
        Overrides the profile's ``n_subjects`` (None: the profile's; its None: all).
    collect : bool, default=False
        Read finished holdouts only; list the unfinished ones in ``missing``.
    summary_only : bool, default=False
        Write the data summary and the pool examples, then return without training.
    phantom_size : int, default=36
        Subjects of the synthetic phantom (``data="phantom"``).
    on_summary : callable, optional
        Called with the printed data summary before any training.

    Returns
    -------
    dict
        ``records`` (every iteration of every run), ``noise`` (retraining-noise
        records), ``stops`` (why each run ended), ``missing`` (unfinished runs, with
        ``collect``), ``summary`` (the text), ``classes`` (the class names).

    Examples
    --------
    >>> import tempfile
    >>> from bsqkit.experiments.segmentation import load_profile, run_segmentation_benchmark
    >>> profile = load_profile("cpu")
    >>> profile.update(image_size=24, n_mc=2)
    >>> profile["slice"].update(n_init=8, n_uncertain=8, n_instances=4, until=12)
    >>> profile["segmenter"].update(max_steps=2, width=4, depth=2)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     result = run_segmentation_benchmark(
    ...         "phantom", out, profile=profile, n_holdouts=1, methods=("Random", "Upper bound"),
    ...         progress=False, phantom_size=3)
    ...
    >>> sorted({(r["method"], r["iteration"]) for r in result["records"]})
    [('Random', 0), ('Random', 1), ('Upper bound', 0)]
    """
    from tqdm.auto import tqdm

    from bsqkit._io import remove_orphan_temporaries, run_resumable

    settings = load_profile(profile) if isinstance(profile, (str, Path)) else profile
    settings = validate_profile(settings)
    if mode not in ("slice", "volume"):
        raise InputError(f"mode must be 'slice' or 'volume', got {mode!r}")
    # display names, command-line names or aliases (the catalogue's)
    methods = tuple(m if m == "Upper bound" else find_method(m).name for m in methods)
    holdouts = range(n_holdouts) if only is None else sorted(set(only))
    if any(not 0 <= k < n_holdouts for k in holdouts):
        raise InputError(f"--only must hold holdout indices in [0, {n_holdouts}); got {only}")
    n_subjects = settings["n_subjects"] if n_subjects is None else n_subjects
    dataset = prepare_dataset(
        data,
        settings["image_size"],
        n_subjects=n_subjects,
        slice_axis=slice_axis,
        group_by=group_by,
        groups_csv=groups_csv,
        seed=seed,
        phantom_size=phantom_size,
        labels=settings["labels"],
        pixel_mm=settings["pixel_mm"],
        crop_mm=settings["crop_mm"],
    )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    remove_orphan_temporaries(out)
    summary = write_summary(dataset, settings["split"], out, seed)
    if on_summary is not None:
        on_summary(summary)
    result = {
        "records": [],
        "noise": [],
        "stops": [],
        "missing": [],
        "summary": summary,
        "classes": list(dataset.harmonised.classes.names),
    }
    if summary_only:
        return result
    options = {
        "slice_axis": slice_axis,
        "group_by": group_by,
        "groups_csv": groups_csv,
        "n_subjects": n_subjects,
        "phantom_size": phantom_size if data == "phantom" else None,
    }
    key = _run_key(_data_identity(data, groups_csv), mode, settings, seed, options)
    n_classes = dataset.n_classes
    noise_seeds = settings["evaluation"]["noise_seeds"]
    for holdout in holdouts:
        folder = out / f"holdout_{holdout}"
        folder.mkdir(parents=True, exist_ok=True)
        split = split_holdout(dataset, settings["split"], holdout, seed)
        budget = check_budgets(split, settings, mode, methods)  # before any training
        encoder = None
        if not collect and any(m.startswith("BSQ") for m in methods):
            encoder = _holdout_encoder(split["X_pool"], settings, device, seed, folder)
        jobs = [(m, folder / f"{mode}_{_file_name(m)}.json") for m in methods]
        if noise_seeds:
            jobs.append(("noise", folder / f"{mode}_noise.json"))
        for method, path in jobs:
            if collect:
                state = json.loads(path.read_text()) if path.exists() else None
                why = (
                    "not started"
                    if state is None
                    else "made with other settings"
                    if state.get("key") != key
                    else None
                    if state.get("finished")
                    else "unfinished"
                )
                if why is not None:
                    result["missing"].append(f"holdout {holdout} {method} ({why})")
                    continue
            else:
                bar = tqdm(desc=f"holdout {holdout} {method}", disable=not progress)

                def run(
                    state,
                    save,
                    method=method,
                    split=split,
                    encoder=encoder,
                    h=holdout,
                    path=path,
                    budget=budget,
                ):
                    if method == "noise":
                        # at half the run's final budget, in slices
                        final = budget["until"]
                        if "until" not in settings[mode]:
                            steps = settings[mode]["n_iterations"]
                            final = budget["n_init"] + steps * budget["n_instances"]
                        per_unit = len(split["X_pool"]) / budget["n_units"]
                        n = max(1, min(round(final * per_unit / 2), len(split["X_pool"])))
                        rec = noise_floor(
                            split, settings, n_classes, n, noise_seeds, device, seed, h
                        )
                        return {"records": rec, "finished": True}
                    return run_holdout(
                        split,
                        method,
                        settings,
                        n_classes,
                        encoder,
                        mode=mode,
                        holdout=h,
                        device=device,
                        seed=seed,
                        state=state,
                        on_iteration=save,
                        checkpoint=path.with_suffix(".pt"),
                    )

                state = run_resumable(path, key, run, on_save=bar.update)
                bar.close()
            if method == "noise":
                result["noise"].extend(state["records"])
            else:
                result["records"].extend(state["records"])
                result["stops"].append(
                    {"holdout": holdout, "method": method, "stop": state.get("stop")}
                )
    return result


def _file_name(method: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", method).strip("_")


def _data_identity(data: str, groups_csv: str | None = None) -> dict:
    """Where the data is and a cheap fingerprint of its files (keys of every cache)."""
    from bsqkit._io import data_fingerprint

    identity: dict[str, Any] = {"data": "phantom"}
    if data != "phantom":
        folder = Path(data).resolve()
        patterns = ("*.nii", "*.nii.gz", "dataset.json")
        identity = {"data": str(folder), "fingerprint": data_fingerprint(folder, patterns)}
    if groups_csv is not None:
        identity["groups_csv"] = hashlib.sha256(Path(groups_csv).read_bytes()).hexdigest()[:16]
    return identity


def _holdout_encoder(
    X_pool: NDArray, settings: dict, device: str, seed: int, folder: Path
) -> MMDVAEEncoder:
    """The holdout's MMD-VAE: trained once, then read from ``vae.pt`` when ``vae.json``
    says it was made from the same pool images and settings (refused otherwise)."""
    from bsqkit._io import write_json_atomic

    key = {
        "pool": hashlib.sha256(np.ascontiguousarray(X_pool).tobytes()).hexdigest()[:16],
        "vae": settings["vae"],
        "seed": seed,
    }
    params, made_with = folder / "vae.pt", folder / "vae.json"
    if params.exists():
        old = json.loads(made_with.read_text()) if made_with.exists() else {}
        if old != key:
            changed = sorted(k for k in {*key, *old} if old.get(k) != key.get(k))
            raise InputError(
                f"{params} was made with other data or settings ({', '.join(changed)}); "
                "use another --out folder or delete it"
            )
        encoder = make_encoder(settings, device, seed).initialize()
        encoder.load_params(f_params=params)
        return encoder
    encoder = train_encoder(X_pool, settings, device, seed)
    write_json_atomic(made_with, key)  # first: a vae.pt never exists without it
    _save_params(encoder, params)
    return encoder
