"""One annotation round: train, score, select, write what the annotator needs."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from bsqkit.datasets.slicing import stored_slice_index, to_stored_orientation
from bsqkit.exceptions import InputError

__all__ = ["run_round"]


def _canonical_index(volume: Any, stored_index: int) -> int:
    n = len(volume.X)
    for k in range(n):
        if stored_slice_index(volume.stored, volume.axis, k)[1] == stored_index:
            return k
    raise InputError(f"slice {stored_index} of {volume.id} does not exist")  # pragma: no cover


def _segmenter(n_classes: int, settings: dict, max_steps: int | None = None) -> Any:
    from bsqkit.nets import NeuralNetSegmenter

    return NeuralNetSegmenter(
        n_classes=n_classes,
        max_steps=max_steps or settings["max_steps"],
        lr=1e-3,
        class_weight=None,
        module__width=16,
        module__depth=3,
        device=settings["device"],
        random_state=settings["seed"],
        progress_bar=False,
    )


def _encoder(settings: dict, X_pool: np.ndarray, cache: Path, say: Callable) -> Any:
    """The MMD-VAE, trained once on the pool images and cached by data and settings."""
    from bsqkit._io import atomic_path
    from bsqkit.nets import MMDVAEEncoder

    key = hashlib.sha256(np.ascontiguousarray(X_pool).tobytes()).hexdigest()[:12]
    size = settings["image_size"]
    name = f"vae-{key}-s{size}-e{settings['vae_epochs']}-r{settings['seed']}.pt"
    encoder = MMDVAEEncoder(
        n_latent=32,
        input_size=size,
        module__width=8,
        max_epochs=settings["vae_epochs"],
        lr=1e-3,
        device=settings["device"],
        random_state=settings["seed"],
        progress_bar=False,
    )
    path = cache / name
    if path.exists():
        encoder.initialize()
        encoder.load_params(f_params=path)
        say(f"MMD-VAE read from the cache ({path.name})")
        return encoder
    encoder.fit(X_pool)
    with atomic_path(path) as tmp:
        encoder.save_params(f_params=tmp)
    return encoder


def _duration(seconds: float) -> str:
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.1f} min"


def _expected_duration(settings, X, y, n_classes, train, bsq, cached_vae) -> str:
    """Time a few steps of each network and extrapolate."""
    from bsqkit.nets import MMDVAEEncoder

    parts = []
    if train:
        took = []
        for steps in (4, 24):  # the difference leaves out the fixed costs
            start = time.perf_counter()
            _segmenter(n_classes, settings, max_steps=steps).fit(X[:8], y[:8])
            took.append(time.perf_counter() - start)
        per_step = max(took[1] - took[0], 0.0) / 20
        parts.append(f"training {_duration(per_step * settings['max_steps'])}")
    if bsq and not cached_vae:
        sample = X[: min(len(X), 64)]
        start = time.perf_counter()
        MMDVAEEncoder(
            n_latent=32,
            input_size=settings["image_size"],
            module__width=8,
            max_epochs=1,
            progress_bar=False,
        ).fit(sample)
        per_epoch = (time.perf_counter() - start) * len(X) / len(sample)
        parts.append(f"MMD-VAE {_duration(per_epoch * settings['vae_epochs'])} (once)")
    return ", ".join(parts) or "a few seconds"


def _strategy(name: str, settings: dict, encoder: Any, cold: bool, n: int) -> tuple[Any, str]:
    from bsqkit import (
        BayesianSampleQuery,
        CoreSetQuery,
        RandomQuery,
        SuggestiveAnnotationQuery,
        UncertaintyQuery,
    )

    seed, n_mc = settings["seed"], settings["n_mc"]
    n_uncertain = max(settings["n_uncertain"], n)
    if cold:
        if name == "coreset":
            described = "k-center greedy on the MMD-VAE's codes (core-set), no labels needed"
            return CoreSetQuery(encoder=encoder, random_state=seed), described
        if name == "random":
            return RandomQuery(random_state=seed), "random choice"
        return (
            BayesianSampleQuery(encoder=encoder, batch_mode="greedy", random_state=seed),
            "representativeness alone (BSQ without an annotated set)",
        )
    described = {
        "bsq-greedy": "the most uncertain slices (MC dropout), then the most representative "
        "of them (BSQ, the annotated Gaussian refitted after each pick)",
        "bsq-top": "the most uncertain slices (MC dropout), then the most representative of "
        "them (BSQ, best scores at once)",
        "suggestive-annotation": "the most uncertain slices (MC dropout), then max-cover of "
        "the segmenter's image descriptors (Suggestive Annotation)",
        "uncertainty": "MC-dropout uncertainty",
        "coreset": "k-center greedy on the MMD-VAE's codes (core-set)",
        "random": "random choice",
    }[name]
    return {
        "bsq-greedy": lambda: BayesianSampleQuery(
            encoder=encoder,
            n_uncertain=n_uncertain,
            batch_mode="greedy",
            n_mc=n_mc,
            random_state=seed,
        ),
        "bsq-top": lambda: BayesianSampleQuery(
            encoder=encoder, n_uncertain=n_uncertain, n_mc=n_mc, random_state=seed
        ),
        "suggestive-annotation": lambda: SuggestiveAnnotationQuery(
            n_uncertain=n_uncertain, n_mc=n_mc, random_state=seed
        ),
        "uncertainty": lambda: UncertaintyQuery(n_mc=n_mc, random_state=seed),
        "coreset": lambda: CoreSetQuery(encoder=encoder, random_state=seed),
        "random": lambda: RandomQuery(random_state=seed),
    }[name](), described


def run_round(
    project: Path,
    state: Any,
    volumes: list,
    classes: Any,
    confirmed: set[tuple[str, int]],
    settings: dict,
    say: Callable,
    start: float,
) -> dict:
    """The body of :meth:`bsqkit.workflow.AnnotationProject.suggest` (see there)."""
    from bsqkit._io import atomic_path
    from bsqkit.query import estimate_uncertainty
    from bsqkit.workflow.report import write_round_outputs

    unit, n_wanted = settings["unit"], settings["n_instances"]
    n_classes = max(classes.n_classes, 2)  # background-only annotations: still two classes
    # what is annotated: (subject, stored slice index); canonical indices per volume
    annotated_keys: set[tuple[str, int]] = set()
    for v in volumes:
        v.annotated = set()
        if v.labelled:
            drawn = np.flatnonzero(v.label_slices.reshape(len(v.X), -1).any(axis=1))
            v.annotated = set(range(len(v.X))) if unit == "volume" else set(drawn.tolist())
        for subject, stored in confirmed:
            if subject == v.id:
                v.annotated.add(_canonical_index(v, stored))
        annotated_keys |= {(v.id, stored_slice_index(v.stored, v.axis, k)[1]) for k in v.annotated}
    annotated_volumes = {v.id for v in volumes if v.labelled}
    pending = set() if settings["resuggest"] else state.pending(annotated_keys | annotated_volumes)
    # candidates
    rows = []  # (volume, canonical slice index) of every candidate slice
    for v in volumes:
        if unit == "volume":
            if v.labelled or (v.id, None) in pending:
                continue
            rows += [(v, k) for k in range(len(v.X))]
        else:
            for k in range(len(v.X)):
                key = (v.id, stored_slice_index(v.stored, v.axis, k)[1])
                if k not in v.annotated and key not in pending:
                    rows.append((v, k))
    n_left = len({r[0].group for r in rows}) if unit == "volume" else len(rows)
    if n_wanted > n_left:
        raise InputError(
            f"--n-instances {n_wanted} is larger than what is left to annotate ({n_left} "
            f"{unit}s{'' if settings['resuggest'] else ', pending suggestions excluded'})"
        )
    X_train = [v.X[k] for v in volumes for k in sorted(v.annotated)]
    y_train = [v.y[k] for v in volumes for k in sorted(v.annotated)]
    cold = not X_train
    settings = {**settings, "n_classes": n_classes}
    number = state.begin_round(settings, cold_start=cold)
    state.record_annotations(annotated_keys, number)
    needs_encoder = cold or settings["strategy"] in ("bsq-greedy", "bsq-top", "coreset")
    X_all = np.concatenate([v.X for v in volumes])
    cache = project / ".bsqkit" / "cache"
    cached = cache.exists() and any(cache.glob("vae-*.pt"))
    say(
        f"round {number}: {len(volumes)} volumes, {len(X_all)} slices, "
        f"{len(X_train)} annotated slices, {len(pending)} pending suggestions; expected: "
        + _expected_duration(
            settings,
            np.stack(X_train) if X_train else X_all,
            np.stack(y_train) if y_train else None,
            n_classes,
            not cold,
            needs_encoder,
            cached,
        )
    )
    # the segmenter, warm-started from the previous round's model
    seg, checkpoint, validation, prev_round = None, None, None, None
    if not cold:
        X_train, y_train = np.stack(X_train), np.stack(y_train)
        seg = _segmenter(n_classes, settings)
        last = state.last_checkpoint()
        if last is not None:
            from bsqkit.workflow.project import file_sha256

            prev_round, prev_path, prev_hash = last
            prev = project / prev_path
            made_with = next(r for r in state.rounds() if r["number"] == prev_round)["settings"]
            prev_classes = made_with["n_classes"]
            before = made_with.get("classes")
            # classes are only ever appended: the previous model's classes mean the same
            # now when they are a prefix of this round's (it can be scored), and it can
            # be fine-tuned when they are the same
            kept = before is not None and before == settings["classes"][: len(before)]
            if prev.exists() and file_sha256(prev) == prev_hash:
                previous = _segmenter(prev_classes, settings).initialize()
                previous.load_params(f_params=prev)  # weights_only (the segmenter's default)
                if kept:
                    validation = _validate(
                        previous, volumes, state.annotated_since(prev_round + 1), classes
                    )
                if kept and prev_classes == n_classes:
                    seg.set_params(warm_start=True)
                    seg.initialize()
                    seg.module_.load_state_dict(previous.module_.state_dict())
                    say(f"warm start from round {prev_round}'s model")
                else:
                    was = ", ".join(made_with.get("classes") or [f"{prev_classes - 1} classes"])
                    say(
                        f"the classes changed ({was} -> {', '.join(settings['classes'])}): "
                        "training anew"
                    )
            else:
                say(f"the checkpoint of round {prev_round} is missing or altered: training anew")
        seg.fit(X_train, y_train)
        rel = Path(".bsqkit") / "checkpoints" / f"round_{number:03d}.pt"
        with atomic_path(project / rel) as tmp:
            seg.save_params(f_params=tmp)
        from bsqkit.workflow.project import file_sha256

        checkpoint = (str(rel), file_sha256(project / rel))
    encoder = _encoder(settings, X_all, cache, say) if needs_encoder else None
    strategy, described = _strategy(settings["strategy"], settings, encoder, cold, n_wanted)
    if cold:
        say(f"cold start (no labels yet): suggesting by {described}")
    X_pool = np.stack([v.X[k] for v, k in rows])
    # volume mode: a group query over volumes, or patients with --group-by
    groups = np.array([v.group for v, _ in rows]) if unit == "volume" else None
    idx, scores = strategy.query(
        X_pool,
        estimator=seg,
        X_labeled=None if cold else X_train,
        n_instances=n_wanted,
        groups=groups,
    )
    # the score's parts, for the chosen ones
    chosen_rows = [rows[i] for i in idx]
    uncertainty = (
        estimate_uncertainty(seg, X_pool[idx], n_mc=settings["n_mc"], random_state=0)
        if seg is not None
        else np.full(len(idx), np.nan)
    )
    representativeness = _representativeness(
        encoder, X_all, None if cold else X_train, X_pool[idx]
    )
    suggestions = _suggestion_rows(unit, chosen_rows, scores, uncertainty, representativeness)
    partial = project / "rounds" / f".{number:03d}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    # validation belongs to the model that was scored: the previous round's
    validated = None if validation is None else {"round": prev_round, **validation}
    write_round_outputs(
        partial,
        number,
        suggestions,
        chosen_rows,
        volumes,
        seg,
        settings,
        classes,
        state.validation() + ([validated] if validated else []),
        state.rounds(),
        described,
        time.perf_counter() - start,
    )
    final = project / "rounds" / f"{number:03d}"
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    state.finish_round(
        number,
        [
            (s["subject"], s["slice"], s["score"], s["uncertainty"], s["representativeness"])
            for s in suggestions
        ],
        checkpoint,
        None if validated is None else (prev_round, validation["dice"], validation["n_slices"]),
        None if validated is None else validation["per_class"],
    )
    say(f"round {number} written to {final} ({time.perf_counter() - start:.0f} s)")
    return {
        "round": number,
        "folder": final,
        "cold_start": cold,
        "suggestions": suggestions,
        "validation": state.validation(),
    }


def _validate(model: Any, volumes: list, new: set[tuple[str, int]], classes: Any) -> dict | None:
    """Dice of the previous round's model on the slices annotated since (not trained on):
    the mean over the classes present in either map, and each of them by name."""
    from bsqkit.metrics import dice_score

    X, y = [], []
    for v in volumes:
        for k in range(len(v.X)):
            if (v.id, stored_slice_index(v.stored, v.axis, k)[1]) in new:
                X.append(v.X[k])
                y.append(v.y[k])
    if not X:
        return None
    pred, truth = model.predict(np.stack(X)), np.stack(y)
    present = np.union1d(np.unique(pred), np.unique(truth))
    present = [int(k) for k in present if k != 0]
    if not present:  # background only, found as such
        return {"dice": 1.0, "n_slices": len(X), "per_class": {}}
    dice = dice_score(pred, truth, present)
    names = classes.as_dict()
    per_class = {names.get(k, f"class {k}"): float(d) for k, d in zip(present, dice, strict=True)}
    return {"dice": float(dice.mean()), "n_slices": len(X), "per_class": per_class}


def _representativeness(encoder, X_all, X_labeled, X_chosen):
    """BSQ's representativeness score of the chosen slices (NaN without an encoder)."""
    if encoder is None:
        return np.full(len(X_chosen), np.nan)
    from bsqkit.functional import bsq_scores, fit_bsq_gaussians, summed_log_tail_likelihood

    codes = encoder.transform(X_all)
    labeled = None if X_labeled is None else encoder.transform(X_labeled)
    mu_p, s_p, mu_a, s_a = fit_bsq_gaussians([codes], labeled)
    chosen = encoder.transform(X_chosen)
    if mu_a is None:
        return summed_log_tail_likelihood(chosen, mu_p, s_p)
    return bsq_scores(chosen, mu_p, s_p, mu_a, s_a)


def _suggestion_rows(unit, chosen_rows, scores, uncertainty, representativeness) -> list[dict]:
    rows = []
    if unit == "volume":
        # one row per volume; the volumes of one group (patient) share its rank and score
        ranks = {g: r for r, g in enumerate(dict.fromkeys(v.group for v, _ in chosen_rows), 1)}
        for subject in dict.fromkeys(v.id for v, _ in chosen_rows):
            members = [i for i, (v, _) in enumerate(chosen_rows) if v.id == subject]
            group = chosen_rows[members[0]][0].group
            rows.append(
                {
                    "rank": ranks[group],
                    "subject": subject,
                    "slice": None,
                    "score": float(scores[ranks[group] - 1]),
                    "uncertainty": float(np.mean(uncertainty[members])),
                    "representativeness": float(np.mean(representativeness[members])),
                }
            )
        return rows
    for rank, ((v, k), score) in enumerate(zip(chosen_rows, scores, strict=True), start=1):
        rows.append(
            {
                "rank": rank,
                "subject": v.id,
                "slice": stored_slice_index(v.stored, v.axis, k)[1],
                "score": float(score),
                "uncertainty": float(uncertainty[rank - 1]),
                "representativeness": float(representativeness[rank - 1]),
            }
        )
    return rows


def save_prelabel(
    volume: Any,
    predicted_slices: np.ndarray,
    path: Path,
    classes: Any,
    only: list[int] | None = None,
) -> Path:
    """The model's label map of a volume, on the image's own grid, with its affine.

    Each class is written as its first label value (``classes.to_values``). ``only``
    (canonical slice indices): the prediction fills those slices alone, the rest is the
    volume's current labels (or zeros), so that saving the corrected file into
    ``labels/`` never turns unchecked predictions into annotations.
    """
    from bsqkit._io import atomic_path

    # (n, H, W), canonical in-plane, as label values
    native = classes.to_values(volume.grid.from_grid(predicted_slices))
    if only is not None:
        kept = volume.label_slices.copy()
        kept[only] = native[only]
        native = kept
    canonical = np.moveaxis(native, 0, volume.axis)
    stored = to_stored_orientation(canonical, volume.stored).astype(np.uint8)
    image = nib.Nifti1Image(stored, volume.stored.affine, header=volume.header)
    image.set_data_dtype(np.uint8)
    with atomic_path(path, suffix=".tmp.nii.gz") as tmp:
        nib.save(image, tmp)
    return path
