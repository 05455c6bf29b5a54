"""scikit-learn's shared estimator checks, on every strategy."""

from sklearn.decomposition import PCA
from sklearn.utils.estimator_checks import parametrize_with_checks

from bsqkit import (
    BayesianSampleQuery,
    CoreSetQuery,
    ForegroundRandomQuery,
    RandomQuery,
    SuggestiveAnnotationQuery,
    UncertaintyQuery,
)
from bsqkit.preprocessing import FlattenTransformer

# PCA(2)'s own messages for 1-sample / 1-feature data are PCA's, not the strategy's
_PCA_FAILS = {
    "check_fit2d_1sample": "PCA(n_components=2) rejects one sample with its own message",
    "check_fit2d_1feature": "PCA(n_components=2) rejects one feature with its own message",
}


def _expected_failed_checks(estimator):
    return _PCA_FAILS if isinstance(getattr(estimator, "encoder", None), PCA) else {}


@parametrize_with_checks(
    [
        RandomQuery(),
        UncertaintyQuery(),
        SuggestiveAnnotationQuery(descriptor=FlattenTransformer()),
        BayesianSampleQuery(),
        BayesianSampleQuery(encoder=PCA(2), batch_mode="greedy"),
        CoreSetQuery(),
        ForegroundRandomQuery(),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_strategy(estimator, check):
    check(estimator)
