"""Query strategies, one per module."""

from bsqkit.query.bayesian_sample import BayesianSampleQuery
from bsqkit.query.core_set import CoreSetQuery
from bsqkit.query.foreground_random import ForegroundRandomQuery
from bsqkit.query.random import RandomQuery
from bsqkit.query.suggestive_annotation import SuggestiveAnnotationQuery
from bsqkit.query.uncertainty import (
    UncertaintyQuery,
    estimate_uncertainty,
    most_uncertain_groups,
)

__all__ = [
    "BayesianSampleQuery",
    "CoreSetQuery",
    "ForegroundRandomQuery",
    "RandomQuery",
    "SuggestiveAnnotationQuery",
    "UncertaintyQuery",
    "estimate_uncertainty",
    "most_uncertain_groups",
]
