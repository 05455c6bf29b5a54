"""The paper's segmentation protocol (Section 3): slice- and volume-based active learning.

Subject-wise holdouts (70 / 5 / 25 % of subjects, seeded); within a holdout every method
starts from the same initial slices; an MMD-VAE is trained once per holdout on the pool
images only; the segmenter is retrained from scratch (same initialisation seed) on the
annotated slices at every iteration, as the paper trains 8000 steps per iteration
including the first. Test subjects are segmented slice by slice and scored in 3-D: Dice
and symmetric mean surface distance (mm) per foreground structure, and their means.
Every number comes from a profile (``profiles/segmentation_<name>.json``).

Volume-based mode: a volume is annotated whole, through the strategies' group queries
(``groups`` = the volume of each slice). Its uncertainty is the mean of its slices'
MC-dropout uncertainties; Baseline takes the ``n_uncertain`` most uncertain volumes and
runs max-cover on volume descriptors (the mean of the slices' descriptors) over all
non-annotated volumes; BSQ takes the same uncertain volumes and ranks them by the mean
BSQ score of their slices (pool and annotated Gaussians fitted to slice codes), "greedy"
refitting the annotated Gaussian with each chosen volume's slices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from bsqkit.datasets.nifti import Subject, normalise_intensity
from bsqkit.metrics import dice_score, mean_surface_distance
from bsqkit.nets import MMDVAEEncoder, NeuralNetSegmenter
from bsqkit.query import (
    BayesianSampleQuery,
    RandomQuery,
    SuggestiveAnnotationQuery,
    UncertaintyQuery,
)

__all__ = [
    "METHODS",
    "evaluate_subjects",
    "gap_to_upper_bound",
    "load_profile",
    "prepare_holdout",
    "run_holdout",
    "run_segmentation_benchmark",
    "subject_split",
    "train_encoder",
]

METHODS = ("Random", "Uncertainty", "Baseline", "BSQ top", "BSQ greedy", "Upper bound")


def load_profile(name: str | Path) -> dict:
    """A named profile (``"cpu"`` or ``"paper"``) or a JSON profile file, as a dict.

    Parameters
    ----------
    name : str or Path
        ``"cpu"``, ``"paper"`` or the path of a JSON file with the same keys.

    Returns
    -------
    dict

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import load_profile
    >>> cpu = load_profile("cpu")
    >>> cpu["image_size"], cpu["segmenter"]["max_steps"], cpu["slice"]
    (48, 2000, {'n_init': 64, 'n_uncertain': 64, 'n_instances': 32, 'n_iterations': 11})
    """
    if str(name).endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"profile file {str(name)!r} does not exist")
        return json.loads(path.read_text())
    path = resources.files("bsqkit.experiments") / "profiles" / f"segmentation_{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown profile {name!r}; choose 'cpu', 'paper' or a .json file")
    return json.loads(path.read_text())


def subject_split(
    n_subjects: int, fractions: Sequence[float], seed: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Pool / validation / test subject indices, each subject in exactly one set.

    With 36 subjects and (0.70, 0.05, 0.25) this gives the paper's 25 / 2 / 9.

    Parameters
    ----------
    n_subjects : int
    fractions : sequence of 3 float
        Pool, validation and test fractions, summing to 1.
    seed : int

    Returns
    -------
    pool, validation, test : ndarray of int

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import subject_split
    >>> pool, validation, test = subject_split(36, (0.70, 0.05, 0.25), seed=0)
    >>> len(pool), len(validation), len(test)  # the paper's 25 / 2 / 9
    (25, 2, 9)
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1: {fractions}")
    order = np.random.RandomState(seed).permutation(n_subjects)
    n_test = max(1, round(fractions[2] * n_subjects))
    n_val = round(fractions[1] * n_subjects)
    n_pool = n_subjects - n_test - n_val
    if n_pool < 1:
        raise ValueError(f"{n_subjects} subjects leave no pool subject")
    return order[:n_pool], order[n_pool : n_pool + n_val], order[n_pool + n_val :]


def _resize(volume: NDArray, size: int | None, axis: int, labels: bool) -> NDArray:
    """Slices along ``axis`` of shape (N, H, W), resized in-plane to ``size`` x ``size``."""
    slices = np.moveaxis(volume, axis, 0)
    if size is None or slices.shape[1:] == (size, size):
        return np.ascontiguousarray(slices)
    t = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]
    mode = "nearest" if labels else "bilinear"
    kwargs = {} if labels else {"align_corners": False, "antialias": True}
    out = F.interpolate(t, size=(size, size), mode=mode, **kwargs)[:, 0].numpy()
    return out.round().astype(volume.dtype) if labels else out


def prepare_holdout(
    subjects: Sequence[Subject], profile: dict, holdout: int, axis: int, seed: int = 0
) -> dict:
    """Slices of the pool subjects and resized test volumes of one holdout.

    Parameters
    ----------
    subjects : sequence of Subject
        Harmonised subjects.
    profile : dict
        A profile (:func:`load_profile`); uses ``split`` and ``image_size``.
    holdout : int
        Holdout index; seeds the subject split together with ``seed``.
    axis : int
        Slicing axis.
    seed : int, default=0

    Returns
    -------
    dict
        ``X_pool`` of shape (n_slices, S, S) float32, ``y_pool`` of shape (n_slices, S, S)
        int64, ``pool_ids`` of shape (n_slices,), ``test_volumes`` (list of
        (X, y, spacing)), ``test_ids``; S is the profile's ``image_size``.

    Examples
    --------
    >>> from bsqkit.datasets import make_shoulder_phantom
    >>> from bsqkit.experiments.segmentation import load_profile, prepare_holdout
    >>> subjects = make_shoulder_phantom(n_subjects=4, random_state=0)
    >>> data = prepare_holdout(subjects, load_profile("cpu"), holdout=0, axis=2)
    >>> data["X_pool"].shape, [str(i) for i in data["test_ids"]]
    ((184, 48, 48), ['phantom_00_s2'])
    """
    pool_idx, _, test_idx = subject_split(len(subjects), profile["split"], seed + holdout)
    size = profile["image_size"]
    norm = {int(i): normalise_intensity(subjects[i]) for i in (*pool_idx, *test_idx)}

    def slices(indices):
        X = [_resize(norm[i].image, size, axis, False) for i in indices]
        y = [_resize(norm[i].label, size, axis, True) for i in indices]
        ids = np.concatenate([[norm[i].id] * len(x) for i, x in zip(indices, X, strict=True)])
        return X, y, ids

    X_pool, y_pool, ids = slices(pool_idx)
    X_test, y_test, test_ids = slices(test_idx)
    spacing = []
    for i in test_idx:
        s = np.delete(np.asarray(subjects[i].spacing), axis)
        shape = np.delete(np.asarray(subjects[i].image.shape), axis)
        scale = shape / size if size else np.ones(2)
        spacing.append((subjects[i].spacing[axis], *(s * scale)))  # (slice, in-plane...)
    return {
        "X_pool": np.concatenate(X_pool).astype(np.float32),
        "y_pool": np.concatenate(y_pool).astype(np.int64),
        "pool_ids": ids,
        "test_volumes": list(zip(X_test, y_test, spacing, strict=True)),
        "test_ids": sorted(set(test_ids)),
    }


def evaluate_subjects(
    segmenter: Any, volumes: Sequence[tuple[NDArray, NDArray, tuple]], labels: Sequence[int]
) -> dict:
    """Mean Dice and MSD over test volumes and structures (and per structure).

    Parameters
    ----------
    segmenter : estimator
        Anything with ``predict(X)`` returning label slices of shape (n_slices, H, W).
    volumes : sequence of (X, y, spacing)
        Test subjects: slices of shape (n_slices, H, W), their label maps, and the voxel
        spacing in mm as (slice axis, in-plane, in-plane).
    labels : sequence of int
        The structures to score (background excluded).

    Returns
    -------
    dict
        ``dice``, ``msd`` (means over subjects and structures), ``dice_per_structure``,
        ``msd_per_structure``.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.experiments.segmentation import evaluate_subjects
    >>> class Oracle:  # anything with predict(X) -> label slices
    ...     def predict(self, X):
    ...         return (X > 0.5).astype(np.uint8)
    ...
    >>> X = np.zeros((3, 8, 8), np.float32)
    >>> X[:, 2:6, 2:6] = 1.0
    >>> volume = (X, (X > 0.5).astype(np.uint8), (3.0, 1.0, 1.0))  # (slices, labels, spacing)
    >>> result = evaluate_subjects(Oracle(), [volume], labels=[1])
    >>> result["dice"], result["msd"]
    (1.0, 0.0)
    """
    dice, msd = [], []
    for X, y, spacing in volumes:
        pred = segmenter.predict(X)
        dice.append(dice_score(pred, y, labels))
        msd.append([mean_surface_distance(pred == c, y == c, spacing) for c in labels])
    dice, msd = np.mean(dice, axis=0), np.mean(msd, axis=0)
    return {
        "dice": float(dice.mean()),
        "msd": float(msd.mean()),
        "dice_per_structure": dice.tolist(),
        "msd_per_structure": msd.tolist(),
    }


def _strategy(method: str, profile: dict, mode_name: str, encoder: Any, seed: int) -> Any:
    mode, n_mc = profile[mode_name], profile["n_mc"]
    return {
        "Random": lambda: RandomQuery(random_state=seed),
        "Uncertainty": lambda: UncertaintyQuery(n_mc=n_mc, random_state=seed),
        "Baseline": lambda: SuggestiveAnnotationQuery(
            n_uncertain=mode["n_uncertain"], n_mc=n_mc, random_state=seed
        ),
        "BSQ top": lambda: BayesianSampleQuery(
            encoder=encoder, n_uncertain=mode["n_uncertain"], n_mc=n_mc, random_state=seed
        ),
        "BSQ greedy": lambda: BayesianSampleQuery(
            encoder=encoder,
            n_uncertain=mode["n_uncertain"],
            batch_mode="greedy",
            n_mc=n_mc,
            random_state=seed,
        ),
    }[method]()


def _segmenter(profile: dict, n_classes: int, device: str, seed: int) -> NeuralNetSegmenter:
    s = profile["segmenter"]
    return NeuralNetSegmenter(
        n_classes=n_classes,
        max_steps=s["max_steps"],
        lr=s["lr"],
        batch_size=s["batch_size"],
        class_weight=s["class_weight"],
        module__width=s["width"],
        module__depth=s["depth"],
        device=device,
        random_state=seed,
        progress_bar=False,
    )


def _encoder(profile: dict, device: str, seed: int) -> MMDVAEEncoder:
    v = profile["vae"]
    return MMDVAEEncoder(
        n_latent=v["n_latent"],
        input_size=v["input_size"],
        module__width=v["width"],
        max_epochs=v["max_epochs"],
        lr=v["lr"],
        batch_size=v["batch_size"],
        device=device,
        random_state=seed,
        progress_bar=False,
    )


def train_encoder(X_pool: NDArray, profile: dict, device: str, seed: int) -> MMDVAEEncoder:
    """The MMD-VAE of a holdout, trained once on the pool images only.

    Parameters
    ----------
    X_pool : ndarray of shape (n_slices, H, W)
    profile : dict
        Uses the ``vae`` settings.
    device : str
    seed : int

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
    return _encoder(profile, device, seed).fit(X_pool)


def run_holdout(
    data: dict,
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
) -> dict:
    """One method on one holdout, slice- or volume-based; resumable.

    An interrupted run continues from ``state`` (what ``on_iteration`` last received);
    every random choice is seeded per iteration, so a resumed run equals an
    uninterrupted one.

    Parameters
    ----------
    data : dict
        From :func:`prepare_holdout`.
    method : str
        One of :data:`METHODS`.
    profile : dict
    n_classes : int
        Classes including background.
    encoder : transformer, optional
        The holdout's fitted MMD-VAE (needed by the BSQ methods).
    mode : {"slice", "volume"}, default="slice"
    holdout : int, default=0
        Stored in the records.
    device : str, default="cpu"
    seed : int, default=0
    state : dict, optional
        A partial state to resume from.
    on_iteration : callable, optional
        Called with the state after every iteration (e.g. to save it).

    Returns
    -------
    dict
        ``annotated`` (pool slice indices in query order), ``records`` (one per
        iteration: annotated slices, their percentage, annotated volumes, Dice and MSD
        means and per structure), ``finished``.

    Examples
    --------
    >>> from bsqkit.datasets import make_shoulder_phantom
    >>> from bsqkit.experiments.segmentation import load_profile, prepare_holdout
    >>> profile = load_profile("cpu")
    >>> profile.update(image_size=24, n_mc=2)
    >>> profile["slice"].update(n_init=8, n_uncertain=8, n_instances=4, n_iterations=1)
    >>> profile["segmenter"].update(max_steps=2, width=4, depth=2)
    >>> subjects = make_shoulder_phantom(3, random_state=0)
    >>> data = prepare_holdout(subjects, profile, holdout=0, axis=2)
    >>> from bsqkit.experiments.segmentation import run_holdout
    >>> out = run_holdout(data, "Uncertainty", profile, n_classes=5, mode="slice")
    >>> [(r["iteration"], r["n_annotated"]) for r in out["records"]], out["finished"]
    ([(0, 8), (1, 12)], True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if mode not in ("slice", "volume"):
        raise ValueError(f"mode must be 'slice' or 'volume', got {mode!r}")
    X, y = data["X_pool"], data["y_pool"]
    volume_of = np.unique(data["pool_ids"], return_inverse=True)[1]
    labels = list(range(1, n_classes))
    settings = profile[mode]
    n_pool = len(X)

    def evaluate(annotated: list[int], iteration: int) -> tuple[dict, Any]:
        seg = _segmenter(profile, n_classes, device, seed).fit(X[annotated], y[annotated])
        scores = evaluate_subjects(seg, data["test_volumes"], labels)
        record = {
            "holdout": holdout,
            "method": method,
            "mode": mode,
            "iteration": iteration,
            "n_annotated": len(annotated),
            "n_volumes": len(set(volume_of[annotated].tolist())),
            "annotated_pct": 100.0 * len(annotated) / n_pool,
            **scores,
        }
        return record, seg

    if method == "Upper bound":
        record, _ = evaluate(list(range(n_pool)), 0)
        return {"annotated": list(range(n_pool)), "records": [record], "finished": True}
    if state is None:
        rng = np.random.RandomState(seed + holdout)
        if mode == "slice":
            annotated = [int(i) for i in rng.choice(n_pool, settings["n_init"], replace=False)]
        else:
            first = rng.choice(volume_of.max() + 1, settings["n_init"], replace=False)
            annotated = [int(i) for i in np.flatnonzero(np.isin(volume_of, first))]
        records: list[dict] = []
    else:
        annotated, records = list(state["annotated"]), list(state["records"])
    for iteration in range(len(records), settings["n_iterations"] + 1):
        record, seg = evaluate(annotated, iteration)
        records.append(record)
        mask = np.ones(n_pool, dtype=bool)
        mask[annotated] = False
        candidates = np.flatnonzero(mask)
        if iteration < settings["n_iterations"] and len(candidates):
            strategy = _strategy(method, profile, mode, encoder, seed * 1009 + iteration)
            # volume mode: whole volumes are queried (a group query), n_instances counts them
            groups = volume_of[candidates] if mode == "volume" else None
            n_open = len(candidates) if groups is None else len(np.unique(groups))
            idx, _ = strategy.query(
                X[candidates],
                estimator=seg,
                X_labeled=X[annotated],
                n_instances=min(settings["n_instances"], n_open),
                groups=groups,
                labeled_groups=None if groups is None else volume_of[annotated],
            )
            annotated.extend(int(i) for i in candidates[idx])
        if on_iteration is not None:
            on_iteration({"annotated": annotated, "records": records, "finished": False})
    return {"annotated": annotated, "records": records, "finished": True}


def _load_subjects(data: str, profile: dict, seed: int) -> tuple[list[Subject], int, int]:
    """Subjects, number of classes and slicing axis for ``data`` ("phantom" or a folder)."""
    from bsqkit.datasets import harmonise, load_decathlon, load_nifti_pairs
    from bsqkit.datasets.phantom import PHANTOM_LABELS, make_shoulder_phantom

    if data == "phantom":
        n = profile["n_subjects"] or 36
        return make_shoulder_phantom(n, random_state=seed), len(PHANTOM_LABELS), 2
    folder = Path(data)
    if (folder / "dataset.json").is_file():
        subjects = load_decathlon(folder, limit=profile["n_subjects"])
        n_classes = len(json.loads((folder / "dataset.json").read_text())["labels"])
    else:
        subjects = load_nifti_pairs(
            folder / "images", folder / "labels", limit=profile["n_subjects"]
        )
        n_classes = int(max(s.label.max() for s in subjects)) + 1
    # slices along the first axis, as the Decathlon crops are stored; pad in-plane only
    return harmonise(subjects, slice_axis=0), n_classes, 0


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
) -> list[dict]:
    """Run (or resume) the protocol into ``out``; return all records.

    ``out/holdout_<k>/vae.pt`` holds each holdout's MMD-VAE (trained once);
    ``out/holdout_<k>/<method>.json`` each run's state, rewritten atomically after every
    iteration: a finished run is never recomputed, an interrupted one resumes.
    ``only`` restricts the call to some of the ``n_holdouts`` holdouts, so that separate
    processes can run holdouts in parallel into the same ``out``; a later call without
    ``only`` collects every holdout (finished ones are read, not recomputed).

    Parameters
    ----------
    data : str
        ``"phantom"`` or a Decathlon task folder / folder with ``images`` and ``labels``.
    out : str or Path
    mode : {"slice", "volume"}, default="slice"
    profile : str or dict, default="cpu"
        A profile name, JSON path or dict (:func:`load_profile`).
    n_holdouts : int, default=5
    only : sequence of int, optional
        Holdout indices to run in this call.
    methods : sequence of str, default=METHODS
    device : str, default="cpu"
    seed : int, default=0
    progress : bool, default=True

    Examples
    --------
    >>> import tempfile
    >>> from bsqkit.experiments.segmentation import gap_to_upper_bound, load_profile
    >>> from bsqkit.experiments.segmentation import run_segmentation_benchmark
    >>> profile = load_profile("cpu")
    >>> profile.update(n_subjects=3, image_size=24)
    >>> profile["slice"].update(n_init=8, n_instances=4, n_iterations=1)
    >>> profile["segmenter"].update(max_steps=2, width=4, depth=2)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     records = run_segmentation_benchmark("phantom", out, profile=profile, n_holdouts=1,
    ...                                          methods=("Random", "Upper bound"), progress=False)
    ...
    >>> sorted({(r["method"], r["iteration"]) for r in records})
    [('Random', 0), ('Random', 1), ('Upper bound', 0)]
    >>> [row["iteration"] for row in gap_to_upper_bound(records)]
    [0, 1]
    """
    from tqdm.auto import tqdm

    from bsqkit._io import remove_orphan_temporaries, run_resumable

    settings = load_profile(profile) if isinstance(profile, str) else profile
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    holdouts = range(n_holdouts) if only is None else sorted(set(only))
    if any(not 0 <= k < n_holdouts for k in holdouts):
        raise ValueError(f"only must hold holdout indices in [0, {n_holdouts}); got {only}")
    subjects, n_classes, axis = _load_subjects(data, settings, seed)
    out = Path(out)
    remove_orphan_temporaries(out)
    records = []
    data_id = _data_identity(data)
    key = json.dumps(
        {"data": data_id, "mode": mode, "profile": settings, "seed": seed}, sort_keys=True
    )
    for holdout in holdouts:
        folder = out / f"holdout_{holdout}"
        folder.mkdir(parents=True, exist_ok=True)
        prepared = prepare_holdout(subjects, settings, holdout, axis, seed)
        encoder = None
        if any(m.startswith("BSQ") for m in methods):
            vae_key = {"data": data_id, "vae": settings["vae"], "seed": seed, "holdout": holdout}
            vae_key.update(image_size=settings["image_size"], split=settings["split"])
            encoder = _holdout_encoder(prepared["X_pool"], settings, device, seed, folder, vae_key)
        for method in methods:
            path = folder / f"{mode}_{method.replace(' ', '_')}.json"
            bar = tqdm(
                desc=f"holdout {holdout} {method}",
                disable=not progress,
                total=settings[mode]["n_iterations"] + 1,
            )

            def run(
                state, save, method=method, prepared=prepared, encoder=encoder, holdout=holdout
            ):
                return run_holdout(
                    prepared,
                    method,
                    settings,
                    n_classes,
                    encoder,
                    mode=mode,
                    holdout=holdout,
                    device=device,
                    seed=seed,
                    state=state,
                    on_iteration=save,
                )

            state = run_resumable(path, key, run, on_save=bar.update)
            bar.close()
            records.extend(state["records"])
    return records


def _data_identity(data: str) -> dict:
    """Where the data is and a cheap fingerprint of its files (keys of every cache)."""
    from bsqkit._io import data_fingerprint

    if data == "phantom":
        return {"data": "phantom"}
    folder = Path(data).resolve()
    patterns = ("*.nii", "*.nii.gz", "dataset.json", "*.csv")
    return {"data": str(folder), "fingerprint": data_fingerprint(folder, patterns)}


def _holdout_encoder(X_pool, settings, device, seed, folder, key):
    """The holdout's MMD-VAE: trained once, then read from ``vae.pt`` when ``vae.json``
    says it was made with the same data and settings (refused otherwise)."""
    from bsqkit._io import atomic_path, write_json_atomic

    params, made_with = folder / "vae.pt", folder / "vae.json"
    if params.exists():
        old = json.loads(made_with.read_text()) if made_with.exists() else {}
        if old != json.loads(json.dumps(key)):
            changed = sorted(k for k in {*key, *old} if old.get(k) != key.get(k))
            raise ValueError(
                f"{params} was made with other data or settings ({', '.join(changed)}); "
                "use another --out folder or delete it"
            )
        encoder = _encoder(settings, device, seed).initialize()
        encoder.load_params(f_params=params)
        return encoder
    encoder = train_encoder(X_pool, settings, device, seed)
    write_json_atomic(made_with, key)  # first: a vae.pt never exists without it
    with atomic_path(params) as tmp:
        encoder.save_params(f_params=tmp)
    return encoder


def gap_to_upper_bound(records: list[dict]) -> list[dict]:
    """Dice gap to the upper bound (percentage points) per method and iteration (Table 2).

    Mean and standard deviation over holdouts of ``upper bound Dice - method Dice``,
    each holdout against its own upper bound.

    Parameters
    ----------
    records : list of dict
        Records of :func:`run_segmentation_benchmark`, including the ``"Upper bound"``.

    Returns
    -------
    list of dict
        One row per method and iteration: ``annotated_pct``, ``dice_mean``, ``gap_mean``,
        ``gap_std``, ``n_holdouts``.

    Examples
    --------
    >>> from bsqkit.experiments.segmentation import gap_to_upper_bound
    >>> records = [
    ...     {"method": m, "holdout": h, "iteration": i, "dice": d, "annotated_pct": pct}
    ...     for m, h, i, d, pct in (
    ...         ("Upper bound", 0, 0, 0.90, 100.0),
    ...         ("Upper bound", 1, 0, 0.88, 100.0),
    ...         ("BSQ top", 0, 1, 0.85, 10.0),
    ...         ("BSQ top", 1, 1, 0.80, 10.0),
    ...     )
    ... ]
    >>> row = gap_to_upper_bound(records)[0]
    >>> row["method"], round(row["gap_mean"], 2), round(row["gap_std"], 2), row["n_holdouts"]
    ('BSQ top', 6.5, 1.5, 2)
    """
    upper = {r["holdout"]: r["dice"] for r in records if r["method"] == "Upper bound"}
    rows = []
    methods = [m for m in dict.fromkeys(r["method"] for r in records) if m != "Upper bound"]
    for method in methods:
        for it in sorted({r["iteration"] for r in records if r["method"] == method}):
            sel = [
                r
                for r in records
                if r["method"] == method and r["iteration"] == it and r["holdout"] in upper
            ]
            if not sel:
                continue
            gaps = np.array([100 * (upper[r["holdout"]] - r["dice"]) for r in sel])
            rows.append(
                {
                    "method": method,
                    "iteration": it,
                    "annotated_pct": float(np.mean([r["annotated_pct"] for r in sel])),
                    "dice_mean": float(np.mean([r["dice"] for r in sel])),
                    "gap_mean": float(gaps.mean()),
                    "gap_std": float(gaps.std()),
                    "n_holdouts": len(sel),
                }
            )
    return rows
