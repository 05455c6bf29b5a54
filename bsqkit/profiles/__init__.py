"""Profiles: every number of a segmentation run, for the benchmark and ``bsqkit
suggest`` alike, checked before it starts.

A profile is a JSON dict (``segmentation_<name>.json`` beside this module ships ``cpu``
and ``paper``). Budgets (``n_init``, ``n_instances``, ``n_uncertain``, ``until``) are counts
or fractions of the pool, so that one profile fits any data set.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from bsqkit.exceptions import InputError

__all__ = ["budget_count", "load_profile", "validate_profile"]

# every key a profile may hold, with its kind: "count|fraction", "count", "int", ...
_SCHEMA: dict[str, Any] = {
    "description": str,
    "n_subjects": "count or null",
    "split": "three fractions",
    "image_size": "count",
    "labels": "labels",
    "pixel_mm": "positive or null",
    "crop_mm": "positive or null",
    "n_mc": "count",
    "slice": {
        "n_init": "budget",
        "n_uncertain": "budget",
        "n_instances": "budget",
        "until": "budget",
        "n_iterations": "count",
    },
    "volume": {
        "n_init": "budget",
        "n_uncertain": "budget",
        "n_instances": "budget",
        "until": "budget",
        "n_iterations": "count",
    },
    "segmenter": {
        "max_steps": "count",
        "lr": "positive",
        "batch_size": "count",
        "width": "count",
        "depth": "count",
        "class_weight": ("balanced", None),
        "dropout": ("head", "blocks"),
        "retrain": ("scratch", "warm"),
        "warm_steps": "count",
    },
    "vae": {
        "n_latent": "count",
        "input_size": "count",
        "width": "count",
        "max_epochs": "count",
        "lr": "positive",
        "batch_size": "count",
    },
    "evaluation": {"noise_seeds": "count or zero", "resized_grid": bool},
}
# optional top-level keys: the classes and the grid (bsqkit.datasets.harmonising)
_TOP_DEFAULTS = {"labels": None, "pixel_mm": None, "crop_mm": None}
_DEFAULTS = {
    "segmenter": {"dropout": "head", "retrain": "scratch", "warm_steps": 500},
    "evaluation": {"noise_seeds": 0, "resized_grid": False},
}


def _check(value: Any, kind: Any, key: str) -> None:
    def fail(expected: str) -> None:
        raise InputError(f"profile key {key!r}: expected {expected}, got {value!r}")

    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "budget":
        if is_int and value >= 1:
            return
        if isinstance(value, float) and 0 < value <= 1:
            return
        fail("a count (int >= 1) or a fraction of the pool (float in (0, 1])")
    elif kind in ("count", "count or null", "count or zero"):
        if value is None and kind == "count or null":
            return
        if not is_int or value < (0 if kind == "count or zero" else 1):
            fail("an int >= 1" if kind != "count or zero" else "an int >= 0")
    elif kind == "labels":
        if value is None or isinstance(value, dict):
            return
        if not isinstance(value, str) or not value.strip():
            fail('null, a string such as "47,48" or "hippocampus=47+48", or {"name": [values]}')
    elif kind == "positive or null" and value is None:
        return
    elif kind in ("positive", "positive or null"):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            fail("a positive number")
    elif kind == "three fractions":
        ok = isinstance(value, (list, tuple)) and len(value) == 3
        if not ok or min(value) < 0 or abs(sum(value) - 1) > 1e-6:
            fail("three fractions >= 0 summing to 1 (pool, validation, test)")
    elif isinstance(kind, tuple):
        if value not in kind:
            fail(" or ".join(repr(k) for k in kind))
    elif not isinstance(value, kind):
        fail(kind.__name__)


def validate_profile(profile: dict) -> dict:
    """Check a profile against the known keys and kinds; return it with defaults filled.

    Parameters
    ----------
    profile : dict
        The settings, as read from a profile's JSON; it is not modified.

    Returns
    -------
    dict
        A copy, with the optional sections' defaults.

    Raises
    ------
    InputError
        An unknown key, a missing one, or a value of the wrong kind (a fraction outside
        (0, 1], a count below 1...), named as ``section.key``.

    Examples
    --------
    >>> from bsqkit.profiles import load_profile, validate_profile
    >>> profile = load_profile("cpu")
    >>> profile["slice"]["n_init"] = 1.5
    >>> validate_profile(profile)
    Traceback (most recent call last):
    ...
    bsqkit.exceptions.InputError: profile key 'slice.n_init': expected a count (int >= 1) \
or a fraction of the pool (float in (0, 1]), got 1.5
    """
    if not isinstance(profile, dict):
        raise InputError(f"a profile is a dict of settings, got {type(profile).__name__}")
    out = json.loads(json.dumps(profile))
    out = {**_TOP_DEFAULTS, **out}
    for section, defaults in _DEFAULTS.items():
        if not isinstance(out.get(section, {}), dict):
            raise InputError(f"profile key {section!r}: expected a section (a dict)")
        out[section] = {**defaults, **out.get(section, {})}
    for key, value in out.items():
        if key not in _SCHEMA:
            raise InputError(f"unknown profile key {key!r}; known: {sorted(_SCHEMA)}")
        kind = _SCHEMA[key]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise InputError(f"profile key {key!r}: expected a section (a dict)")
            for sub, v in value.items():
                if sub not in kind:
                    raise InputError(
                        f"unknown profile key '{key}.{sub}'; known in {key!r}: {sorted(kind)}"
                    )
                _check(v, kind[sub], f"{key}.{sub}")
        else:
            _check(value, kind, key)
    required = {
        "split": None,
        "image_size": None,
        "n_mc": None,
        "slice": ("n_init", "n_uncertain", "n_instances"),
        "volume": ("n_init", "n_uncertain", "n_instances"),
        "segmenter": ("max_steps", "lr", "batch_size", "width", "depth", "class_weight"),
        "vae": tuple(_SCHEMA["vae"]),
    }
    for key, subs in required.items():
        if key not in out:
            raise InputError(f"profile key {key!r} is missing")
        for sub in subs or ():
            if sub not in out[key]:
                raise InputError(f"profile key '{key}.{sub}' is missing")
    for mode in ("slice", "volume"):
        if "until" not in out[mode] and "n_iterations" not in out[mode]:
            raise InputError(f"profile section {mode!r} needs 'until' or 'n_iterations'")
    return out


def load_profile(name: str | Path | dict) -> dict:
    """A named profile (``"cpu"`` or ``"paper"``), a JSON profile file or a profile's
    dict, validated.

    Parameters
    ----------
    name : str, Path or dict
        ``"cpu"``, ``"paper"``, the path of a JSON file with the same keys, or the
        settings themselves (checked by :func:`validate_profile`; not modified).

    Returns
    -------
    dict

    Examples
    --------
    >>> from bsqkit.profiles import load_profile
    >>> cpu = load_profile("cpu")
    >>> cpu["image_size"], cpu["segmenter"]["max_steps"], cpu["slice"]["n_init"]
    (48, 2000, 0.0025)
    """
    if isinstance(name, dict):
        return validate_profile(name)
    if str(name).endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise InputError(f"profile file {str(name)!r} does not exist")
        try:
            profile = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"profile file {path} is not valid JSON: {exc}") from exc
        return validate_profile(profile)
    path = resources.files("bsqkit.profiles") / f"segmentation_{name}.json"
    if not path.is_file():
        raise InputError(f"unknown profile {name!r}; choose 'cpu', 'paper' or a .json file")
    return validate_profile(json.loads(path.read_text()))


def budget_count(value: int | float, n_units: int) -> int:
    """A budget as a number of slices (or volumes): counts as they are, fractions of
    the pool rounded, at least 1.

    Parameters
    ----------
    value : int or float
        A count, or a fraction of the pool in (0, 1].
    n_units : int
        Pool size.

    Returns
    -------
    int

    Examples
    --------
    >>> from bsqkit.profiles import budget_count
    >>> budget_count(0.0025, 6482), budget_count(64, 6482)
    (16, 64)
    """
    if isinstance(value, float):
        return max(1, round(value * n_units))
    return int(value)
