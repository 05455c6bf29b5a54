"""Which label values a run segments, merged into named classes.

A label volume may hold many structures (a brain atlas: 140 values up to 207); a run
segments the classes a user names: ``"47,48"`` (each value a class of its own),
``"hippocampus=47+48,amygdala=31+32"`` (values merged into named classes), or a JSON
file mapping names to values (``{"hippocampus": [47, 48], "amygdala": [31, 32]}``).
Values not listed become background. Without a selection, every label value found is a
class of its own. Classes are numbered 1..K in the order given; class 0 is background.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bsqkit.exceptions import InputError

__all__ = ["LabelClasses", "parse_label_classes"]

_OPTION = "--labels"


@dataclass(frozen=True)
class LabelClasses:
    """Foreground classes 1..K: each a name and the label values it merges.

    Parameters
    ----------
    names : tuple of str
        The name of class ``k`` at position ``k - 1``.
    values : tuple of tuple of int
        The label values of each class (integers in 1..255).

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.datasets.label_classes import LabelClasses
    >>> classes = LabelClasses(("hippocampus", "amygdala"), ((47, 48), (31, 32)))
    >>> classes.as_dict()
    {0: 'background', 1: 'hippocampus', 2: 'amygdala'}
    >>> classes.to_classes(np.array([0, 47, 48, 31, 5], "uint8")).tolist()
    [0, 1, 1, 2, 0]
    """

    names: tuple[str, ...]
    values: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.values):
            raise ValueError("one tuple of values per class name")
        owner: dict[int, str] = {}
        if len(set(self.names)) < len(self.names):
            twice = next(n for n in self.names if self.names.count(n) > 1)
            raise InputError(f"{_OPTION}: two classes are named {twice!r}")
        for name, values in zip(self.names, self.values, strict=True):
            if not name.strip():
                raise InputError(f"{_OPTION}: a class has an empty name")
            if not values:
                raise InputError(f"{_OPTION}: class {name!r} has no label value")
            for v in values:
                if v in owner:
                    raise InputError(
                        f"{_OPTION}: label value {v} is in two classes ({owner[v]!r} and {name!r})"
                    )
                owner[v] = name

    @classmethod
    def each_value(
        cls, values: Iterable[int], names: Mapping[int, str] | None = None
    ) -> LabelClasses:
        """Every value a class of its own, named from ``names`` (else ``"label <v>"``).

        Parameters
        ----------
        values : iterable of int
            Label values; 0 (background) is left out.
        names : mapping of int to str, optional

        Returns
        -------
        LabelClasses
        """
        values = sorted({int(v) for v in values} - {0})
        names = names or {}
        return cls(tuple(names.get(v, f"label {v}") for v in values), tuple((v,) for v in values))

    @property
    def n_classes(self) -> int:
        """Classes including background."""
        return len(self.names) + 1

    @property
    def label_values(self) -> set[int]:
        """Every label value that some class holds."""
        return {v for values in self.values for v in values}

    def as_dict(self) -> dict[int, str]:
        """``{0: "background", 1: name, ...}``."""
        return {0: "background", **{k: n for k, n in enumerate(self.names, start=1)}}

    def as_mapping(self) -> dict[str, list[int]]:
        """``{name: [values]}``: the JSON form :func:`parse_label_classes` reads back."""
        return {n: list(v) for n, v in zip(self.names, self.values, strict=True)}

    def describe(self) -> list[str]:
        """``name (values)`` per class, e.g. ``"hippocampus (47+48)"``."""
        return [
            name
            if name == f"label {values[0]}" and len(values) == 1
            else f"{name} ({'+'.join(str(v) for v in values)})"
            for name, values in zip(self.names, self.values, strict=True)
        ]

    def lookup_table(self) -> NDArray[np.uint8]:
        """Class of each label value 0..255 (0 for the values no class holds)."""
        table = np.zeros(256, dtype=np.uint8)
        for k, values in enumerate(self.values, start=1):
            table[list(values)] = k
        return table

    def to_classes(self, label: NDArray) -> NDArray[np.uint8]:
        """A label map of values as a map of classes (one table lookup per voxel)."""
        return self.lookup_table()[np.asarray(label, dtype=np.uint8)]

    def to_values(self, classes: NDArray) -> NDArray[np.uint8]:
        """A map of classes as label values: each class writes its first value (a class
        number beyond the last class, background)."""
        classes = np.asarray(classes, dtype=np.intp)
        table = np.zeros(max(self.n_classes, int(classes.max(initial=0)) + 1), dtype=np.uint8)
        table[1 : self.n_classes] = [values[0] for values in self.values]
        return table[classes]

    def check_present(self, found: set[int], where: str) -> None:
        """Refuse a class value that no label volume holds.

        Parameters
        ----------
        found : set of int
            The label values present (or declared).
        where : str
            The data, for the message.

        Raises
        ------
        InputError
        """
        missing = sorted(self.label_values - set(found))
        if missing:
            shown = ", ".join(str(v) for v in sorted(set(found) - {0})[:12])
            more = " ..." if len(set(found) - {0}) > 12 else ""
            raise InputError(
                f"{_OPTION}: label value{'s' if len(missing) > 1 else ''} "
                f"{', '.join(str(v) for v in missing)} in no label volume of {where} "
                f"(values found: {shown or 'none'}{more})"
            )


def _value(text: Any, context: str) -> int:
    if isinstance(text, bool):
        raise InputError(f"{context}: {text!r} is not a label value (an integer in 1..255)")
    if isinstance(text, int):
        value = text
    elif isinstance(text, float) and text.is_integer():
        value = int(text)
    elif isinstance(text, str) and text.strip().isdigit():
        value = int(text.strip())
    else:
        raise InputError(f"{context}: {text!r} is not a label value (an integer in 1..255)")
    if value == 0:
        raise InputError(f"{context}: 0 is the background, not a class")
    if not 1 <= value <= 255:
        raise InputError(f"{context}: {value} is not a label value (an integer in 1..255)")
    return value


def _from_mapping(mapping: Mapping, context: str) -> LabelClasses:
    names, values = [], []
    for name, given in mapping.items():
        items = given if isinstance(given, (list, tuple)) else [given]
        values.append(tuple(dict.fromkeys(_value(v, f"{context}: class {name!r}") for v in items)))
        names.append(str(name))
    if not names:
        raise InputError(f"{context}: no class given")
    return LabelClasses(tuple(names), tuple(values))


def _from_text(spec: str, names: Mapping[int, str]) -> LabelClasses:
    classes: dict[str, tuple[int, ...]] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            raise InputError(f"{_OPTION} {spec!r}: an empty class between commas")
        name, sep, rest = item.partition("=")
        if sep:
            name = name.strip()
            if not name:
                raise InputError(f"{_OPTION} {spec!r}: a class without a name before '='")
            parts = [p for p in rest.split("+")]
            value = tuple(dict.fromkeys(_value(p, f"{_OPTION} {spec!r}") for p in parts))
        else:
            v = _value(item, f"{_OPTION} {spec!r}")
            if any(v in given for given in classes.values()):
                raise InputError(f"{_OPTION} {spec!r}: label value {v} is given twice")
            name, value = names.get(v, f"label {v}"), (v,)
        if name in classes:
            raise InputError(f"{_OPTION}: two classes are named {name!r}")
        classes[name] = value
    return LabelClasses(tuple(classes), tuple(classes.values()))


def parse_label_classes(
    spec: str | Path | Mapping | None, names: Mapping[int, str] | None = None
) -> LabelClasses | None:
    """The classes a ``--labels`` value (or a profile's ``labels``) asks for.

    Parameters
    ----------
    spec : str, Path, mapping or None
        ``"47,48"``, ``"hippocampus=47+48,amygdala=31+32"``, the path of a JSON file
        ``{"name": value or [values]}``, or such a mapping. None: no selection.
    names : mapping of int to str, optional
        The data set's names of its label values (``dataset.json``, ``labels.json``),
        for the classes given as bare values.

    Returns
    -------
    LabelClasses or None

    Raises
    ------
    InputError
        A value that is not an integer in 1..255, two classes with one name, one value in
        two classes, a file that does not exist or is not valid JSON.

    Examples
    --------
    >>> from bsqkit.datasets.label_classes import parse_label_classes
    >>> parse_label_classes("hippocampus=47+48,31").describe()
    ['hippocampus (47+48)', 'label 31']
    >>> parse_label_classes("1,2", names={1: "anterior", 2: "posterior"}).names
    ('anterior', 'posterior')
    >>> parse_label_classes("a=1,b=1")
    Traceback (most recent call last):
    ...
    bsqkit.exceptions.InputError: --labels: label value 1 is in two classes ('a' and 'b')
    """
    if spec is None:
        return None
    names = names or {}
    if isinstance(spec, Mapping):
        return _from_mapping(spec, _OPTION)
    text = str(spec).strip()
    if not text:
        raise InputError(f"{_OPTION}: empty; give values such as 47,48 or a JSON file")
    if text.endswith(".json") or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise InputError(f"{_OPTION} {text}: no such file")
        try:
            mapping = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{_OPTION} {path} is not valid JSON: {exc}") from exc
        if not isinstance(mapping, dict):
            raise InputError(
                f'{_OPTION} {path}: expected an object {{"name": value or [values]}}, got '
                f"{type(mapping).__name__}"
            )
        return _from_mapping(mapping, f"{_OPTION} {path}")
    return _from_text(text, names)
