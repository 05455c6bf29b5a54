"""Deprecated alias of :mod:`bsqkit.experiments.segmentation.data` (moved in 0.2)."""

from __future__ import annotations

import warnings
from typing import Any

from bsqkit.experiments.segmentation import data as segmentation_data_module


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # import machinery and star imports: no warning
        raise AttributeError(name)
    value = getattr(segmentation_data_module, name)  # AttributeError for unknown names
    warnings.warn(
        "bsqkit.experiments.segmentation_data is deprecated; import "
        f"{name} from bsqkit.experiments.segmentation.data",
        FutureWarning,
        stacklevel=2,
    )
    return value
