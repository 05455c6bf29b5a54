"""bsqkit: which images should an expert annotate next?

Active-learning query strategies (Bayesian Sample Querying, Suggestive Annotation,
uncertainty, core-set, random) as scikit-learn estimators, and a modAL-style
:class:`ActiveLearner`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), so that ``bsqkit --help`` and
# ``--version`` answer without importing torch and scikit-learn.
_LAZY = {
    "ActiveLearner": "bsqkit.learner",
    "BayesianSampleQuery": "bsqkit.query",
    "CoreSetQuery": "bsqkit.query",
    "ForegroundRandomQuery": "bsqkit.query",
    "QueryStrategy": "bsqkit.base",
    "RandomQuery": "bsqkit.query",
    "SuggestiveAnnotationQuery": "bsqkit.query",
    "SupportsImageDescriptors": "bsqkit.base",
    "SupportsMCDropout": "bsqkit.base",
    "UncertaintyQuery": "bsqkit.query",
}

__all__ = [
    "ActiveLearner",
    "BayesianSampleQuery",
    "CoreSetQuery",
    "ForegroundRandomQuery",
    "QueryStrategy",
    "RandomQuery",
    "SuggestiveAnnotationQuery",
    "SupportsImageDescriptors",
    "SupportsMCDropout",
    "UncertaintyQuery",
    "__version__",
]

if TYPE_CHECKING:
    from bsqkit.base import QueryStrategy, SupportsImageDescriptors, SupportsMCDropout
    from bsqkit.learner import ActiveLearner
    from bsqkit.query import (
        BayesianSampleQuery,
        CoreSetQuery,
        ForegroundRandomQuery,
        RandomQuery,
        SuggestiveAnnotationQuery,
        UncertaintyQuery,
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'bsqkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
