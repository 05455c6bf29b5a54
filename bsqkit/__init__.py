"""bsqkit: which images should an expert annotate next?

Active-learning query strategies (Bayesian Sample Querying, Suggestive Annotation,
uncertainty, core-set, random) as scikit-learn estimators, and a modAL-style
:class:`ActiveLearner`.
"""

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

__version__ = "0.1.0"

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
