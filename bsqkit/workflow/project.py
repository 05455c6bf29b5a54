"""Annotation rounds on a user's own scans: which slices or volumes to annotate next.

A project is a folder::

    PROJECT/images/      NIfTI volumes, any orientation (*.nii, *.nii.gz)
    PROJECT/labels/      label volumes for what is annotated so far (same file names)
    PROJECT/annotated.csv    optional: subject,slice rows for slices confirmed as
                             background only (slice numbers as the file counts them)
    PROJECT/labels.json  optional: {"labels": {"0": "background", "1": "liver", ...}}

Each :meth:`AnnotationProject.suggest` is a round: it reads the folder, trains the
segmenter on the annotated slices (warm-started from the previous round's model),
trains the MMD-VAE once on the pool images (cached), scores the not yet annotated (and
not pending) slices or volumes with a bsqkit strategy and writes ``rounds/NNN/``:
``suggestions.csv``, ``suggestions.png``, ``prelabels/`` (the model's segmentation of
the suggested volumes on each image's own grid and affine) and ``report.html``. State
lives in ``PROJECT/.bsqkit/state.sqlite``.

Kept whole: reading and checking the project folder and the :class:`AnnotationProject`
that every round goes through; a round's steps are in :mod:`bsqkit.workflow.rounds`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bsqkit.catalogue import find_method
from bsqkit.datasets.harmonising import HarmonisedData, HarmonisingSettings, harmonise_subjects
from bsqkit.datasets.nifti import (
    NIFTI_SUFFIXES,
    Subject,
    nifti_stem,
    read_volume,
    with_groups,
)
from bsqkit.datasets.slicing import (
    SliceGrid,
    choose_slice_axis,
    stored_slice_index,
    to_canonical_orientation,
)
from bsqkit.exceptions import InputError
from bsqkit.workflow.state import ProjectState, project_lock

__all__ = ["AnnotationProject"]


@dataclass
class _Volume:
    id: str
    stored: Subject  # as the file holds it (label may be all zero when unlabeled)
    labeled: bool
    axis: int
    reason: str
    group: str = ""  # the patient (``--group-by``); the volume itself by default
    grid: SliceGrid | None = None
    X: NDArray | None = None
    y: NDArray | None = None  # classes on the grid
    label_slices: NDArray | None = None  # label values as drawn: canonical, slice axis first
    header: Any = None  # the image's NIfTI header, for the prelabels
    annotated: set[int] = field(default_factory=set)  # canonical slice indices


class AnnotationProject:
    """A folder of scans being annotated, round after round.

    Parameters
    ----------
    path : str or Path
        The project folder (``images/``, ``labels/``, optional ``annotated.csv`` and
        ``labels.json``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import nibabel as nib
    >>> import numpy as np
    >>> from bsqkit.workflow import AnnotationProject
    >>> tmp = Path(tempfile.mkdtemp())
    >>> rng = np.random.RandomState(0)
    >>> for k in range(3):
    ...     (tmp / "images").mkdir(exist_ok=True)
    ...     volume = rng.rand(20, 20, 4).astype("float32")
    ...     nib.save(nib.Nifti1Image(volume, np.diag([1.5, 1.5, 5.0, 1])),
    ...              tmp / "images" / f"case_{k}.nii.gz")
    >>> result = AnnotationProject(tmp).suggest(
    ...     unit="volume", n_instances=1, max_steps=2, vae_epochs=1, image_size=16,
    ...     verbose=False)
    >>> result["round"], result["cold_start"], len(result["suggestions"])
    (1, True, 1)
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- reading the folder ---------------------------------------------------------
    def _declared_labels(self) -> dict[int, str] | None:
        path = self.path / "labels.json"
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            return {int(k): str(v) for k, v in meta["labels"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f'{path} must hold {{"labels": {{"0": "background", "1": "name", ...}}}}: {exc}'
            ) from exc

    def _volumes(
        self, slice_axis: Any, group_by: str | None = None
    ) -> tuple[list[_Volume], dict[int, str] | None, list[str]]:
        """The volumes, the names of label values (``labels.json``), and the files of
        ``images/`` that are not NIfTI (left out)."""
        images_dir, labels_dir = self.path / "images", self.path / "labels"
        if not images_dir.is_dir():
            raise InputError(f"{images_dir} does not exist: put the scans there (NIfTI)")
        images = sorted(p for p in images_dir.iterdir() if p.name.endswith(NIFTI_SUFFIXES))
        skipped = sorted(
            p.name
            for p in images_dir.iterdir()
            if not p.name.endswith(NIFTI_SUFFIXES) and not p.name.startswith(".")
        )
        if not images:
            raise InputError(f"{images_dir} holds no .nii or .nii.gz files")
        by_stem = {nifti_stem(p): p for p in images}
        labels = (
            {nifti_stem(p): p for p in labels_dir.iterdir() if p.name.endswith(NIFTI_SUFFIXES)}
            if labels_dir.is_dir()
            else {}
        )
        orphans = sorted(set(labels) - set(by_stem))
        if orphans:
            raise InputError(
                f"{labels_dir / (orphans[0] + '.nii.gz')} and {len(orphans) - 1} more label "
                f"files have no image of the same name in {images_dir}"
            )
        declared = self._declared_labels()
        volumes = []
        for stem, path in by_stem.items():
            stored, image = read_volume(
                stem, path, labels.get(stem), declared and set(declared), "labels.json"
            )
            axis, reason = choose_slice_axis(stored, slice_axis)
            volume = _Volume(stem, stored, stem in labels, axis, reason, group=stem)
            volume.header = image.header
            volumes.append(volume)
        if group_by is not None:
            grouped = with_groups([v.stored for v in volumes], group_by, None)
            for v, s in zip(volumes, grouped, strict=True):
                v.group = s.group
        return volumes, declared, skipped

    def _annotated_csv(self, volumes: list[_Volume]) -> set[tuple[str, int]]:
        """Slices listed in annotated.csv, as (subject, stored slice index)."""
        path = self.path / "annotated.csv"
        if not path.exists():
            return set()
        shapes = {v.id: v for v in volumes}
        out = set()
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows and not {"subject", "slice"} <= set(rows[0]):
            raise InputError(f"{path} needs the columns subject,slice")
        for line, row in enumerate(rows, start=2):
            subject, value = row["subject"].strip(), row["slice"].strip()
            if subject not in shapes:
                raise InputError(f"{path} line {line}: no image {subject!r} in images/")
            v = shapes[subject]
            stored_axis, _ = stored_slice_index(v.stored, v.axis, 0)
            n = v.stored.image.shape[stored_axis]
            if not value.isdigit() or not 0 <= int(value) < n:
                raise InputError(
                    f"{path} line {line}: slice {value!r} of {subject} does not exist "
                    f"({n} slices along stored axis {stored_axis})"
                )
            out.add((subject, int(value)))
        return out

    def _prepare(
        self,
        volumes: list[_Volume],
        settings: HarmonisingSettings,
        names: dict | None,
        carried: set[int] = frozenset(),
    ) -> HarmonisedData:
        """The harmonising step the benchmark uses too; classes named from labels.json.
        Values declared there, or carried over from earlier rounds' classes, are valid
        even where no label file holds them yet."""
        data = harmonise_subjects(
            [dataclasses.replace(v.stored, group=v.group) for v in volumes],
            settings,
            names,
            declared=(set(names or ()) | set(carried)) - {0},
            where=str(self.path),
        )
        for v, s in zip(volumes, data.subjects, strict=True):
            v.grid, v.X, v.y = s.grid, s.X, s.y.astype(np.int64)
            # the label values as drawn (the step keeps classes): which slices are drawn,
            # and what a prelabel keeps
            v.label_slices = np.moveaxis(
                to_canonical_orientation(v.stored.label, v.stored), v.axis, 0
            )
        return data

    def slices(
        self,
        image_size: int = 96,
        labels: str | dict | None = None,
        pixel_mm: float | None = None,
        crop_mm: float | None = None,
        slice_axis: Any = "auto",
    ) -> HarmonisedData:
        """The project's volumes as a round sees them: sliced, classes mapped, on the grid.

        The same harmonising step as the segmentation benchmark's
        (:func:`~bsqkit.datasets.harmonising.harmonise_subjects`): a folder read by both
        gives the same arrays.

        Parameters
        ----------
        image_size : int, default=96
        labels : str, dict or None, default=None
            The classes (``"47,48"``, ``"hippocampus=47+48"``, a JSON file); None: every
            label value found or declared in ``labels.json``.
        pixel_mm, crop_mm : float, optional
            The grid's pixel size or field of view in mm.
        slice_axis : "auto" or {0, 1, 2}, default="auto"

        Returns
        -------
        HarmonisedData
        """
        volumes, names, _ = self._volumes(slice_axis)
        settings = HarmonisingSettings(image_size, labels, pixel_mm, crop_mm, slice_axis)
        return self._prepare(volumes, settings, names)

    # -- a round ---------------------------------------------------------------------
    def suggest(
        self,
        unit: str = "slice",
        n_instances: int = 16,
        strategy: str = "bsq-greedy",
        device: str = "cpu",
        profile: str | dict | None = None,
        max_steps: int | None = None,
        vae_epochs: int | None = None,
        image_size: int | None = None,
        n_uncertain: int | None = None,
        n_mc: int | None = None,
        slice_axis: Any = "auto",
        group_by: str | None = None,
        labels: str | dict | None = None,
        pixel_mm: float | None = None,
        crop_mm: float | None = None,
        resuggest: bool = False,
        max_per_volume: int | None = 2,
        seed: int = 0,
        verbose: bool = True,
    ) -> dict:
        """Run one annotation round and write ``rounds/NNN/``.

        Parameters
        ----------
        unit : {"slice", "volume"}, default="slice"
            What an annotator labels next: single slices, or whole volumes (a volume
            with a label file is annotated).
        n_instances : int, default=16
            Slices (or volumes) to suggest.
        strategy : str, default="bsq-greedy"
            A method of :data:`bsqkit.catalogue.METHODS`, by its command-line name
            (``bsq-greedy``, ``bsq-top``, ``suggestive-annotation``, ``uncertainty``,
            ``coreset``, ``random-foreground``, ``random``) or display name.
        device : str, default="cpu"
        profile : str, dict or None, default=None
            The networks' settings, as in the segmentation benchmark
            (:func:`bsqkit.profiles.load_profile`: ``"cpu"``, ``"paper"`` or a JSON file);
            None: ``"cpu"`` on the CPU, ``"paper"`` on a GPU.
        max_steps : int, optional
            Training steps of the segmenter at a round that trains anew; default the
            profile's (a round that fine-tunes the previous model takes the profile's
            ``warm_steps`` when its ``retrain`` is ``"warm"``).
        vae_epochs : int, optional
            Epochs of the MMD-VAE (trained once, cached); default the profile's.
        image_size : int, optional
            Side of the slice grid; default the profile's.
        n_uncertain : int, optional
            Uncertainty shortlist; default ``2 * n_instances``.
        n_mc : int, optional
            MC-dropout passes; default the profile's.
        slice_axis : "auto" or {0, 1, 2}, default="auto"
        group_by : str, optional
            A regular expression whose first capture group names a file's patient: with
            ``unit="volume"``, ``n_instances`` then counts patients, and all the
            patient's volumes are suggested together.
        labels : str, dict or None, default=None
            The classes to segment: ``"47,48"``, ``"hippocampus=47+48,amygdala=31+32"``
            or a JSON file mapping names to values; values not listed are background.
            None: the previous round's choice, or at the first round every label value
            found or declared in ``labels.json``.
        pixel_mm, crop_mm : float, optional
            The slice grid's pixel size, or its field of view, in mm; default: the
            largest field of view that is not an outlier
            (:func:`~bsqkit.datasets.slicing.plan_grid`).
        resuggest : bool, default=False
            Allow suggestions still pending from earlier rounds to be suggested again.
        max_per_volume : int or None, default=2
            With ``unit="slice"``, at most this many suggestions from one volume (the
            strategy ranks four times the batch, and the picks beyond a volume's cap are
            skipped, or fill up where the cap leaves too few); None or 0: no cap. The
            default spreads a round over more volumes at no measured cost in Dice
            (``benchmarks/suggest_rounds.py``).
        seed : int, default=0
        verbose : bool, default=True
            Print what the round does and its expected duration (estimated by timing
            a few training steps, which a quiet round skips).

        Returns
        -------
        dict
            ``round``, ``folder``, ``cold_start``, ``suggestions`` (rows of
            ``suggestions.csv``), ``validation`` (Dice over rounds), ``seconds`` (the
            round's time) and ``expected_seconds`` (what it printed it would take; None
            when ``verbose`` is False, as the estimate is then skipped).
        """
        if unit not in ("slice", "volume"):
            raise InputError(f"--unit must be 'slice' or 'volume', got {unit!r}")
        method = find_method(strategy)
        for name, value in (
            ("--n-instances", n_instances),
            ("--max-steps", max_steps),
            ("--vae-epochs", vae_epochs),
            ("--image-size", image_size),
            ("--n-mc", n_mc),
        ):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InputError(f"{name} must be an int >= 1, got {value!r}")
        if max_per_volume is not None and (
            not isinstance(max_per_volume, int) or max_per_volume < 0
        ):
            raise InputError(f"--max-per-volume must be an int >= 0, got {max_per_volume!r}")
        profile = _round_profile(profile, device, max_steps, vae_epochs, image_size, n_mc)
        say = print if verbose else (lambda *a, **k: None)
        if not (self.path / "images").is_dir():  # before any state is written
            raise InputError(f"{self.path / 'images'} does not exist: put the scans there (NIfTI)")
        state_dir = self.path / ".bsqkit"
        with project_lock(state_dir):
            fresh = not (state_dir / "state.sqlite").exists()  # decided under the lock
            try:
                state = ProjectState(state_dir / "state.sqlite")
                try:
                    for number in state.discard_unfinished():
                        shutil.rmtree(
                            self.path / "rounds" / f".{number:03d}.partial", ignore_errors=True
                        )
                        say(f"round {number} had been interrupted: it is run again")
                    # a round that fails leaves the project as it was
                    before, number = state.snapshot(), state.next_round()
                    try:
                        return self._round(
                            state,
                            say,
                            unit=unit,
                            n_instances=n_instances,
                            strategy=method.slug,
                            profile=profile,
                            n_uncertain=n_uncertain or 2 * n_instances,
                            slice_axis=slice_axis,
                            group_by=group_by,
                            labels=labels,
                            pixel_mm=pixel_mm,
                            crop_mm=crop_mm,
                            resuggest=resuggest,
                            max_per_volume=max_per_volume or None,
                            seed=seed,
                            device=device,
                            verbose=verbose,
                        )
                    except BaseException:
                        state.restore(before)
                        _forget_round(self.path, number)
                        raise
                finally:
                    state.close()
            except BaseException:
                if fresh:  # a first round that failed leaves no state (the cache stays)
                    (state_dir / "state.sqlite").unlink(missing_ok=True)
                raise

    def _round(self, state: ProjectState, say: Any, **request: Any) -> dict:
        """Read, harmonise and run one round (:func:`bsqkit.workflow.rounds.run_round`)."""
        from bsqkit.workflow.rounds import run_round

        start = time.perf_counter()
        volumes, names, skipped = self._volumes(request["slice_axis"], request["group_by"])
        if skipped:
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            say(
                f"warning: {len(skipped)} files in images/ are not NIfTI (.nii, .nii.gz) and "
                f"are left out: {', '.join(skipped[:5])}{more}"
            )
        _fix_slice_axes(state, volumes)
        labels = _first(request.pop("labels"), request["profile"]["labels"])
        classes, carried = _round_classes(state.settings("classes"), volumes, names, labels)
        profile = request["profile"]
        harmonising = HarmonisingSettings(
            profile["image_size"],
            classes["classes"] or None,
            # the command line's, else the profile's
            _first(request["pixel_mm"], profile["pixel_mm"]),
            _first(request["crop_mm"], profile["crop_mm"]),
            request["slice_axis"],
        )
        data = self._prepare(volumes, harmonising, names, carried)
        confirmed = self._annotated_csv(volumes)
        settings = {
            **request,
            "image_size": profile["image_size"],
            "n_mc": profile["n_mc"],
            "labels": classes["classes"] if classes["given"] else None,
            "classes": data.classes.describe(),
            "grid": f"{data.grid.size} x {data.grid.size} px of {data.grid.pixel_mm:.3g} mm "
            f"({data.grid.reason})",
        }
        described = ", ".join(data.classes.describe()) or "none drawn yet"
        say(f"classes: {described}; grid {settings['grid']}")
        for warning in data.coverage_warnings():
            say(f"warning: {warning}")
        result = run_round(
            self.path, state, volumes, data.classes, confirmed, settings, say, start
        )
        state.set_setting("classes", classes)  # kept once the round succeeded
        return result

    def history(self) -> dict:
        """Rounds, suggestions and validation Dice recorded so far.

        Returns
        -------
        dict
            ``rounds``, ``suggestions``, ``validation``.
        """
        state = ProjectState(self.path / ".bsqkit" / "state.sqlite")
        try:
            return {
                "rounds": state.rounds(),
                "suggestions": state.suggested(),
                "validation": state.validation(),
            }
        finally:
            state.close()


def _fix_slice_axes(state: ProjectState, volumes: list[_Volume]) -> None:
    """Each volume keeps the slice axis of its first round: annotated and suggested slice
    numbers mean nothing along another axis."""
    from bsqkit.datasets.slicing import stored_slice_index

    fixed = state.settings("slice_axes") or {}
    for v in volumes:
        stored_axis = stored_slice_index(v.stored, v.axis, 0)[0]
        if fixed.get(v.id, stored_axis) != stored_axis:
            raise InputError(
                f"{v.id} was sliced along stored axis {fixed[v.id]} in earlier rounds and "
                f"would be along axis {stored_axis} now: keep --slice-axis as it was"
            )
        fixed[v.id] = stored_axis
    state.set_setting("slice_axes", fixed)


def _forget_round(project: Path, number: int) -> None:
    """Remove what a failed round wrote: its partial or final folder, its checkpoint."""
    rounds = project / "rounds"
    for folder in (rounds / f".{number:03d}.partial", rounds / f"{number:03d}"):
        shutil.rmtree(folder, ignore_errors=True)
    (project / ".bsqkit" / "checkpoints" / f"round_{number:03d}.pt").unlink(missing_ok=True)
    if rounds.is_dir() and not any(rounds.iterdir()):
        rounds.rmdir()


def _first(*values: Any) -> Any:
    """The first value that is not None."""
    return next((v for v in values if v is not None), None)


def _round_profile(
    profile: str | dict | None,
    device: str,
    max_steps: int | None,
    vae_epochs: int | None,
    image_size: int | None,
    n_mc: int | None,
) -> dict:
    """The round's profile (the benchmark's profiles; ``cpu`` on the CPU, ``paper`` on a
    GPU by default) with the command line's overrides."""
    from bsqkit.profiles import load_profile

    if profile is None:
        profile = "cpu" if str(device) == "cpu" else "paper"
    settings = load_profile(profile)
    if max_steps is not None:  # a cap on fine-tuning too
        settings["segmenter"]["max_steps"] = max_steps
        settings["segmenter"]["warm_steps"] = min(settings["segmenter"]["warm_steps"], max_steps)
    if vae_epochs is not None:
        settings["vae"]["max_epochs"] = vae_epochs
    if image_size is not None:
        settings["image_size"] = image_size
    if n_mc is not None:
        settings["n_mc"] = n_mc
    return settings


def _round_classes(
    fixed: dict | None, volumes: list[_Volume], names: dict | None, labels: Any
) -> tuple[dict, set[int]]:
    """The classes of this round, kept across rounds so that a class keeps its number.

    ``labels`` given: those classes, from now on (``given``). Otherwise the earlier
    rounds' classes: as given, or, when none were given, with any label value drawn (or
    declared in ``labels.json``) since appended as a class of its own; a class whose
    values no label file holds any more keeps its number.

    Returns ``{"given": bool, "classes": {name: [values]}}`` and the values carried over
    from earlier rounds (valid even where no label file holds them now).
    """
    from bsqkit.datasets.label_classes import LabelClasses, parse_label_classes

    names = names or {}
    if labels is not None:
        given = parse_label_classes(str(labels) if isinstance(labels, Path) else labels, names)
        return {"given": True, "classes": given.as_mapping()}, set()
    fixed = fixed or {"given": False, "classes": {}}
    if "given" not in fixed:  # the first format: the mapping alone
        fixed = {"given": False, "classes": fixed}
    carried = {v for values in fixed["classes"].values() for v in values}
    if fixed["given"]:
        return fixed, carried
    drawn = set()
    for v in volumes:
        drawn |= {int(k) for k in np.flatnonzero(np.bincount(v.stored.label.ravel()))}
    new = LabelClasses.each_value((drawn | set(names)) - carried - {0}, names)
    return {"given": False, "classes": {**fixed["classes"], **new.as_mapping()}}, carried
