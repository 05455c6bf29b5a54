"""Every holdout and method of the protocol into one folder: resumable, collectable, and
runnable in parallel processes (one per holdout)."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bsqkit.catalogue import cached_encoder, find_method
from bsqkit.exceptions import InputError
from bsqkit.experiments.segmentation.data import prepare_dataset, split_holdout, write_summary
from bsqkit.experiments.segmentation.evaluation import noise_floor
from bsqkit.experiments.segmentation.methods import METHODS
from bsqkit.experiments.segmentation.protocol import check_budgets, run_holdout
from bsqkit.profiles import load_profile

__all__ = ["run_segmentation_benchmark"]


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
    as it was read (``summary_only`` stops there). ``out/holdout_<k>/vae-*.pt`` holds
    each holdout's MMD-VAE, trained once and named by its pool images, settings and seed
    (:func:`~bsqkit.catalogue.cached_encoder`); ``out/holdout_<k>/<mode>_<method>.json``
    each run's state, rewritten atomically after every iteration: a finished run is
    never recomputed, an interrupted one resumes, one made with other settings is
    refused before any training. ``only`` restricts the call to some
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

    from bsqkit._io import remove_orphan_temporaries, resumable_state, run_resumable

    settings = load_profile(profile)
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
        jobs = [(m, folder / f"{mode}_{_file_name(m)}.json") for m in methods]
        if noise_seeds:
            jobs.append(("noise", folder / f"{mode}_noise.json"))
        encoder = None
        if not collect:
            # runs made with other settings are refused before any network trains
            states = {m: resumable_state(path, key) for m, path in jobs}
            if any(m.startswith("BSQ") and not (states[m] or {}).get("finished") for m in methods):
                # trained once per pool and settings, kept in the holdout's folder
                encoder, _ = cached_encoder(settings, split["X_pool"], folder, device, seed)
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
                run = functools.partial(
                    _run_job,
                    method=method,
                    split=split,
                    settings=settings,
                    mode=mode,
                    budget=budget,
                    encoder=encoder,
                    n_classes=n_classes,
                    holdout=holdout,
                    device=device,
                    seed=seed,
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


def _run_job(
    state: dict | None,
    save: Callable[[dict], None],
    *,
    method: str,
    split: dict,
    settings: dict,
    mode: str,
    budget: dict,
    encoder: Any,
    n_classes: int,
    holdout: int,
    device: str,
    seed: int,
    checkpoint: Path,
) -> dict:
    """One job of a holdout (a method, or the noise floor), as ``run_resumable`` calls it."""
    if method != "noise":
        return run_holdout(
            split, method, settings, n_classes, encoder, mode=mode, holdout=holdout,
            device=device, seed=seed, state=state, on_iteration=save, checkpoint=checkpoint,
        )  # fmt: skip
    # the noise floor at half the runs' final budget, in slices
    final = budget["until"]
    if "until" not in settings[mode]:
        final = budget["n_init"] + settings[mode]["n_iterations"] * budget["n_instances"]
    per_unit = len(split["X_pool"]) / budget["n_units"]
    n = max(1, min(round(final * per_unit / 2), len(split["X_pool"])))
    noise_seeds = settings["evaluation"]["noise_seeds"]
    records = noise_floor(split, settings, n_classes, n, noise_seeds, device, seed, holdout)
    return {"records": records, "finished": True}
