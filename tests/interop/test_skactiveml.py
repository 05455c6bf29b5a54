"""bsqkit strategies inside scikit-activeml's pool loop."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bsqkit import BayesianSampleQuery, CoreSetQuery, RandomQuery, UncertaintyQuery

skactiveml = pytest.importorskip("skactiveml")
from skactiveml.classifier import SklearnClassifier  # noqa: E402
from skactiveml.utils import MISSING_LABEL  # noqa: E402

from bsqkit.interop.skactiveml import SkactivemlAdapter  # noqa: E402


@pytest.mark.parametrize(
    "make",
    [
        lambda: UncertaintyQuery(random_state=0),
        lambda: BayesianSampleQuery(encoder=PCA(5), n_uncertain=30, random_state=0),
        lambda: BayesianSampleQuery(encoder=PCA(5), batch_mode="greedy", random_state=0),
        lambda: CoreSetQuery(encoder=PCA(5), random_state=0),
        lambda: RandomQuery(random_state=0),
    ],
)
def test_scikit_activeml_pool_loop(digits, make):
    X, y_true = digits
    X = X.reshape(len(X), -1)[:400]
    y_true = y_true[:400]
    # scikit-activeml's loop: y holds MISSING_LABEL for what is not labeled yet
    y = np.full(len(X), MISSING_LABEL)
    y[:20] = y_true[:20]
    clf = SklearnClassifier(LogisticRegression(max_iter=300), classes=np.arange(10))
    qs = SkactivemlAdapter(make(), random_state=0)
    reference = make()
    queried = []
    for _ in range(4):
        query_idx, utilities = qs.query(X=X, y=y, clf=clf, batch_size=3, return_utilities=True)
        assert utilities.shape == (3, len(X)) and np.isnan(y[query_idx]).all()
        assert np.isfinite(utilities[np.arange(3), query_idx]).all()
        # the same as bsqkit's own query on the same state
        labeled = ~np.isnan(y)
        fitted = LogisticRegression(max_iter=300).fit(X[labeled], y[labeled])
        pool = np.flatnonzero(~labeled)
        idx, _ = reference.query(X[pool], estimator=fitted, X_labeled=X[labeled], n_instances=3)
        np.testing.assert_array_equal(query_idx, pool[idx])
        y[query_idx] = y_true[query_idx]
        clf.fit(X, y)
        queried += query_idx.tolist()
    assert len(set(queried)) == 12


def test_candidates_restrict_the_choice(digits):
    X, y_true = digits
    X = X.reshape(len(X), -1)[:200]
    y = np.full(len(X), MISSING_LABEL)
    y[:10] = y_true[:10]
    qs = SkactivemlAdapter(CoreSetQuery(random_state=0))
    chosen = qs.query(X, y, candidates=np.arange(100, 150), batch_size=5)
    assert set(chosen.tolist()) <= set(range(100, 150))
    with pytest.raises(TypeError, match="indices"):
        qs.query(X, y, candidates=X[:5], batch_size=1)
