"""One annotation round: train, score, select, write what the annotator needs."""

from __future__ import annotations

import hashlib
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


def _encoder(settings: dict, X_pool: np.ndarray, cache: Path, say: Callable) -> Any:
    """The profile's MMD-VAE, trained once on the pool images and cached by data and
    settings."""
    import json

    from bsqkit._io import atomic_path
    from bsqkit.catalogue import make_encoder

    key = hashlib.sha256(np.ascontiguousarray(X_pool).tobytes()).hexdigest()[:12]
    vae = json.dumps(settings["profile"]["vae"], sort_keys=True).encode()
    name = f"vae-{key}-{hashlib.sha256(vae).hexdigest()[:8]}-r{settings['seed']}.pt"
    encoder = make_encoder(settings["profile"], settings["device"], settings["seed"])
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


def _expected_duration(settings, X, y, n_classes, steps, bsq, cached_vae) -> str:
    """Time a few steps of each network and extrapolate."""
    from bsqkit.catalogue import make_encoder

    parts = []
    if steps:
        took = []
        for few in (4, 24):  # the difference leaves out the fixed costs
            start = time.perf_counter()
            _segmenter(n_classes, settings, max_steps=few).fit(X[:8], y[:8])
            took.append(time.perf_counter() - start)
        per_step = max(took[1] - took[0], 0.0) / 20
        parts.append(f"training {_duration(per_step * steps)}")
    if bsq and not cached_vae:
        sample = X[: min(len(X), 64)]
        start = time.perf_counter()
        make_encoder(settings["profile"], "cpu", 0, max_epochs=1).fit(sample)
        per_epoch = (time.perf_counter() - start) * len(X) / len(sample)
        epochs = settings["profile"]["vae"]["max_epochs"]
        parts.append(f"MMD-VAE {_duration(per_epoch * epochs)} (once)")
    return ", ".join(parts) or "a few seconds"


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
    from bsqkit.catalogue import find_method, make_strategy
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
    method = find_method(settings["strategy"])
    # at a cold start CoreSet runs on the MMD-VAE's codes (make_strategy)
    needs_encoder = method.needs_encoder or (cold and method.slug == "coreset")
    X_all = np.concatenate([v.X for v in volumes])
    cache = project / ".bsqkit" / "cache"
    cached = cache.exists() and any(cache.glob("vae-*.pt"))
    segmenter = settings["profile"]["segmenter"]
    warm = segmenter["retrain"] == "warm" and state.last_checkpoint() is not None
    steps = 0 if cold else segmenter["warm_steps"] if warm else segmenter["max_steps"]
    say(
        f"round {number}: {len(volumes)} volumes, {len(X_all)} slices, "
        f"{len(X_train)} annotated slices, {len(pending)} pending suggestions; expected: "
        + _expected_duration(
            settings,
            np.stack(X_train) if X_train else X_all,
            np.stack(y_train) if y_train else None,
            n_classes,
            steps,
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
                        previous,
                        volumes,
                        state.annotated_since(prev_round + 1),
                        classes,
                        prev_classes,
                    )
                if kept and prev_classes == n_classes:
                    if segmenter["retrain"] == "warm":  # fine-tuned for fewer steps
                        seg.set_params(max_steps=segmenter["warm_steps"])
                    seg.set_params(warm_start=True)
                    seg.initialize()
                    seg.module_.load_state_dict(previous.module_.state_dict())
                    say(f"warm start from round {prev_round}'s model ({seg.max_steps} steps)")
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
        checkpoint = (str(rel), file_sha256(project / rel))
    encoder = _encoder(settings, X_all, cache, say) if needs_encoder else None
    strategy, described = make_strategy(
        method,
        n_uncertain=max(settings["n_uncertain"], n_wanted),
        n_mc=settings["n_mc"],
        seed=settings["seed"],
        encoder=encoder,
        segmenter=seg,
    )
    if cold:
        say(f"cold start (no labels yet): suggesting by {described}")
    X_pool = np.stack([v.X[k] for v, k in rows])
    # volume mode: a group query over volumes, or patients with --group-by
    groups = np.array([v.group for v, _ in rows]) if unit == "volume" else None
    idx, _ = strategy.query(
        X_pool,
        estimator=seg,
        X_labeled=None if cold else X_train,
        n_instances=n_wanted,
        groups=groups,
    )
    # what drove each pick: the strategy's own numbers
    chosen_rows = [rows[i] for i in idx]
    suggestions = _suggestion_rows(unit, chosen_rows, strategy.pick_details_)
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
    say(f"round {number} written to {final} ({time.perf_counter() - start:.0f} s)")
    return {
        "round": number,
        "folder": final,
        "cold_start": cold,
        "suggestions": suggestions,
        "validation": state.validation(),
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
