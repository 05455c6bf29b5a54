"""One annotation round: train, score, select, write what the annotator needs."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bsqkit.datasets.slicing import stored_slice_index
from bsqkit.exceptions import InputError

__all__ = ["run_round"]


def _canonical_index(volume: Any, stored_index: int) -> int:
    n = len(volume.X)
    for k in range(n):
        if stored_slice_index(volume.stored, volume.axis, k)[1] == stored_index:
            return k
    raise InputError(f"slice {stored_index} of {volume.id} does not exist")  # pragma: no cover


def _segmenter(n_classes: int, settings: dict, **overrides: Any) -> Any:
    """The profile's segmenter (the benchmark's factory)."""
    from bsqkit.catalogue import make_segmenter

    profile, seed = settings["profile"], settings["seed"]
    return make_segmenter(profile, n_classes, settings["device"], seed, **overrides)


def _previous_model(project: Path, state: Any, settings: dict, n_classes: int) -> dict | None:
    """The last round's model, if any: whether its classes are a prefix of this round's
    (``kept``: it can be scored; classes are only ever appended) or the same (``same``:
    it can be fine-tuned), the model itself (None if its checkpoint is missing or
    altered), and what to say about it."""
    from bsqkit._io import file_sha256

    last = state.last_checkpoint()
    if last is None:
        return None
    number, rel, sha = last
    made_with = next(r for r in state.rounds() if r["number"] == number)["settings"]
    n_before, before = made_with["n_classes"], made_with.get("classes")
    kept = before is not None and before == settings["classes"][: len(before)]
    same = kept and n_before == n_classes
    path = project / rel
    model = None
    if path.exists() and file_sha256(path) == sha:
        model = _segmenter(n_before, settings).initialize()
        model.load_params(f_params=path)  # weights_only (the segmenter's default)
    if model is None:
        message = f"the checkpoint of round {number} is missing or altered: training anew"
        same = False
    elif not same:
        was = ", ".join(before or [f"{n_before - 1} classes"])
        message = f"the classes changed ({was} -> {', '.join(settings['classes'])}): training anew"
    elif settings["profile"]["segmenter"]["retrain"] == "warm":
        message = f"fine-tuning round {number}'s model"
    else:
        message = "training anew (the profile's retrain is 'scratch')"
    return {"round": number, "model": model, "n_classes": n_before, "kept": kept,
            "same": same, "message": message}  # fmt: skip


def _encoder(settings: dict, X_pool: np.ndarray, cache: Path, say: Callable) -> Any:
    """The profile's MMD-VAE, trained once on the pool images and cached by data and
    settings."""
    from bsqkit.catalogue import cached_encoder

    profile, device, seed = settings["profile"], settings["device"], settings["seed"]
    encoder, from_cache = cached_encoder(
        profile, X_pool, cache, device, seed, progress_bar=settings["verbose"]
    )
    if from_cache:
        say("MMD-VAE read from the cache")
    return encoder


def _duration(seconds: float) -> str:
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.1f} min"


def _timed(fit: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fit()
    return time.perf_counter() - start


def _expected_duration(
    settings: dict,
    X_train: np.ndarray | None,
    y_train: np.ndarray | None,
    X_all: np.ndarray,
    n_classes: int,
    steps: int,
    vae: bool,
    n_pool: int,
) -> tuple[float, str]:
    """The round's expected seconds, and its parts: a few steps of each network timed
    and extrapolated (differences of two lengths, so that fixed costs drop out)."""
    from bsqkit.catalogue import make_encoder
    from bsqkit.functional import estimate_uncertainty

    parts = []
    if steps:
        X, y = X_train[:8], y_train[:8]

        def fit(few: int) -> Any:
            return _segmenter(n_classes, settings, max_steps=few).fit(X, y)

        model = fit(2)  # the first fit pays one-off costs
        per_step = max(_timed(lambda: fit(24)) - _timed(lambda: fit(4)), 0.0) / 20
        # scoring: the MC passes over the pool, and a prediction of it for the outputs
        sample = X_all[:64]
        n_mc = settings["n_mc"]
        per_slice = _timed(lambda: estimate_uncertainty(model, sample, n_mc=n_mc)) / len(sample)
        parts += [("training", per_step * steps), ("scoring", per_slice * n_pool)]
    if vae:
        small, large = X_all[:32], X_all[:96]
        device, seed = settings["device"], settings["seed"]

        def epoch(sample: np.ndarray) -> float:
            encoder = make_encoder(settings["profile"], device, seed, max_epochs=1)
            return _timed(lambda: encoder.fit(sample))

        per_slice = max(epoch(large) - epoch(small), 0.0) / max(len(large) - len(small), 1)
        epochs = settings["profile"]["vae"]["max_epochs"]
        parts.append(("MMD-VAE (once)", per_slice * len(X_all) * epochs))
    total = sum(seconds for _, seconds in parts)
    return total, ", ".join(f"{name} {_duration(seconds)}" for name, seconds in parts)


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
    from bsqkit._io import atomic_path, file_sha256
    from bsqkit.catalogue import encoder_cache_path, find_method, make_strategy
    from bsqkit.functional import mc_progress
    from bsqkit.workflow.report import write_round_outputs

    unit, n_wanted = settings["unit"], settings["n_instances"]
    n_classes = max(classes.n_classes, 2)  # background-only annotations: still two classes
    # what is annotated: (subject, stored slice index); canonical indices per volume
    annotated_keys: set[tuple[str, int]] = set()
    for v in volumes:
        v.annotated = set()
        if v.labeled:
            drawn = np.flatnonzero(v.label_slices.reshape(len(v.X), -1).any(axis=1))
            v.annotated = set(range(len(v.X))) if unit == "volume" else set(drawn.tolist())
        for subject, stored in confirmed:
            if subject == v.id:
                v.annotated.add(_canonical_index(v, stored))
        annotated_keys |= {(v.id, stored_slice_index(v.stored, v.axis, k)[1]) for k in v.annotated}
    annotated_volumes = {v.id for v in volumes if v.labeled}
    pending = set() if settings["resuggest"] else state.pending(annotated_keys | annotated_volumes)
    # candidates
    rows = []  # (volume, canonical slice index) of every candidate slice
    for v in volumes:
        if unit == "volume":
            if v.labeled or (v.id, None) in pending:
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
    method = find_method(settings["strategy"])
    needs_encoder = method.uses_encoder(cold)
    X_all = np.concatenate([v.X for v in volumes])
    cache = project / ".bsqkit" / "cache"
    segmenter = settings["profile"]["segmenter"]
    previous = None if cold else _previous_model(project, state, settings, n_classes)
    # fine-tuned for warm_steps where the profile says "warm" and the previous model's
    # classes are this round's; else trained anew (the paper's protocol: "scratch")
    warm = previous is not None and previous["same"] and segmenter["retrain"] == "warm"
    steps = 0 if cold else segmenter["warm_steps"] if warm else segmenter["max_steps"]
    X_pool = np.stack([v.X[k] for v, k in rows])
    expected = None
    if settings["verbose"]:  # the estimate trains a few steps: only for a reader
        train_vae = needs_encoder and not (
            encoder_cache_path(settings["profile"], X_all, cache, settings["seed"]).exists()
        )
        seconds, parts = _expected_duration(
            settings,
            np.stack(X_train) if X_train else None,
            np.stack(y_train) if y_train else None,
            X_all,
            n_classes,
            steps,
            train_vae,
            len(X_pool),
        )
        expected = time.perf_counter() - start + seconds
        say(
            f"round {number}: {len(volumes)} volumes, {len(X_all)} slices, "
            f"{len(X_train)} annotated slices, {len(pending)} pending suggestions; expected "
            f"{_duration(expected)} in all ({parts or 'a few seconds'})"
        )
    seg, checkpoint, validation, prev_round = None, None, None, None
    if not cold:
        X_train, y_train = np.stack(X_train), np.stack(y_train)
        seg = _segmenter(n_classes, settings, progress_bar=settings["verbose"], max_steps=steps)
        if previous is not None:
            prev_round = previous["round"]
            say(previous["message"])
            if previous["model"] is not None and previous["kept"]:
                validation = _validate(
                    previous["model"],
                    volumes,
                    state.annotated_since(prev_round + 1),
                    classes,
                    previous["n_classes"],
                )
            if warm:
                seg.set_params(warm_start=True)
                seg.initialize()
                seg.module_.load_state_dict(previous["model"].module_.state_dict())
        seg.fit(X_train, y_train)
        rel = Path(".bsqkit") / "checkpoints" / f"round_{number:03d}.pt"
        with atomic_path(project / rel) as tmp:
            seg.save_params(f_params=tmp)
        checkpoint = (str(rel), file_sha256(project / rel))
    encoder = _encoder(settings, X_all, cache, say) if needs_encoder else None
    cap = settings.get("max_per_volume") if unit == "slice" else None
    # with a cap, the strategy ranks more than asked, and the picks are taken in its
    # order, skipping those beyond a volume's cap
    n_ranked = n_wanted if cap is None else min(len(rows), _OVER_QUERY * n_wanted)
    strategy, described = make_strategy(
        method,
        # the shortlist grows with the ranking: the same share of the pool is shortlisted
        n_uncertain=max(settings["n_uncertain"] * n_ranked // n_wanted, n_ranked),
        n_mc=settings["n_mc"],
        seed=settings["seed"],
        encoder=encoder,
        segmenter=seg,
    )
    if cold:
        say(f"cold start (no labels yet): suggesting by {described}")
    # volume mode: a group query over volumes, or patients with --group-by
    groups = np.array([v.group for v, _ in rows]) if unit == "volume" else None
    with mc_progress(settings["verbose"]):
        idx, _ = strategy.query(
            X_pool,
            estimator=seg,
            X_labeled=None if cold else X_train,
            n_instances=n_ranked,
            groups=groups,
        )
    details = strategy.pick_details_
    if cap is not None:
        described += (
            f"; at most {cap} slices per volume: the strategy ranked {n_ranked} and the "
            "picks beyond a volume's cap were skipped (a greedy score counts them as chosen)"
        )
        kept = _capped([rows[i][0].id for i in idx], cap, n_wanted)
        idx = idx[kept]
        details = {key: values[kept] for key, values in details.items()}
    # what drove each pick: the strategy's own numbers
    chosen_rows = [rows[i] for i in idx]
    suggestions = _suggestion_rows(unit, chosen_rows, details)
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
        strategy.describe_picks(),
        time.perf_counter() - start,
    )
    final = project / "rounds" / f"{number:03d}"
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    state.finish_round(
        number,
        [
            (
                s["subject"],
                s["slice"],
                s["score"],
                s.get("uncertainty"),
                s.get("representativeness"),
            )
            for s in suggestions
        ],
        checkpoint,
        None if validated is None else (prev_round, validation["dice"], validation["n_slices"]),
        None if validated is None else validation["per_class"],
    )
    seconds = time.perf_counter() - start
    say(f"round {number} written to {final} ({seconds:.0f} s)")
    return {
        "round": number,
        "folder": final,
        "cold_start": cold,
        "suggestions": suggestions,
        "validation": state.validation(),
        "seconds": seconds,
        "expected_seconds": expected,
    }


def _validate(
    model: Any, volumes: list, new: set[tuple[str, int]], classes: Any, n_model_classes: int
) -> dict | None:
    """Dice of the previous round's model on the slices annotated since (not trained on):
    the mean over the classes present in either map, and each of them by name. Classes
    appended since the model was trained (numbers >= ``n_model_classes``) are background
    for it: they are not scored."""
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
    truth = np.where(truth < n_model_classes, truth, 0)
    present = np.union1d(np.unique(pred), np.unique(truth))
    present = [int(k) for k in present if k != 0]
    if not present:  # background only, found as such
        return {"dice": 1.0, "n_slices": len(X), "per_class": {}}
    dice = dice_score(pred, truth, present)
    names = classes.as_dict()
    per_class = {names.get(k, f"class {k}"): float(d) for k, d in zip(present, dice, strict=True)}
    return {"dice": float(dice.mean()), "n_slices": len(X), "per_class": per_class}


# With --max-per-volume, the strategy ranks this many times the batch to choose from.
_OVER_QUERY = 4


def _capped(volume_of_pick: list[str], cap: int, n_wanted: int) -> np.ndarray:
    """Positions of the first ``n_wanted`` picks with at most ``cap`` per volume; where
    the cap leaves too few, the picks it skipped fill up, in the strategy's order."""
    taken: dict[str, int] = {}
    kept, skipped = [], []
    for position, volume in enumerate(volume_of_pick):
        if taken.get(volume, 0) < cap:
            taken[volume] = taken.get(volume, 0) + 1
            kept.append(position)
        else:
            skipped.append(position)
    return np.array(sorted((kept + skipped[: max(n_wanted - len(kept), 0)])[:n_wanted]))


def _suggestion_rows(unit: str, chosen_rows: list, details: dict) -> list[dict]:
    """One row per suggested slice (or volume): where it is, and ``details`` (the
    strategy's ``pick_details_``, one value per pick; in a volume query per group, shared
    by the group's volumes)."""
    rows = []
    if unit == "volume":
        # one row per volume; the volumes of one group (patient) share its rank and values
        ranks = {g: r for r, g in enumerate(dict.fromkeys(v.group for v, _ in chosen_rows), 1)}
        by_id = {v.id: v for v, _ in chosen_rows}
        for v in by_id.values():  # in the order chosen
            rank = ranks[v.group]
            picked = {k: float(values[rank - 1]) for k, values in details.items()}
            rows.append({"rank": rank, "subject": v.id, "slice": None, **picked})
        return rows
    for rank, (v, k) in enumerate(chosen_rows, start=1):
        picked = {key: float(values[rank - 1]) for key, values in details.items()}
        slice_ = stored_slice_index(v.stored, v.axis, k)[1]
        rows.append({"rank": rank, "subject": v.id, "slice": slice_, **picked})
    return rows
