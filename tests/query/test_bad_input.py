"""Bad input gets a clear error naming the argument; edge cases stay finite."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bsqkit import (
    ActiveLearner,
    BayesianSampleQuery,
    CoreSetQuery,
    RandomQuery,
    SuggestiveAnnotationQuery,
    UncertaintyQuery,
)

ALL = [
    lambda: RandomQuery(),
    lambda: UncertaintyQuery(n_mc=3),
    lambda: SuggestiveAnnotationQuery(n_uncertain=10, n_mc=3),
    lambda: BayesianSampleQuery(encoder=PCA(3)),
    lambda: CoreSetQuery(),
]


@pytest.fixture(params=range(len(ALL)))
def strategy(request):
    return ALL[request.param]()


@pytest.mark.parametrize("bad", [0, -2])
def test_n_instances_below_one(strategy, pool_setup, bad):
    X_pool, X_labeled, _, est = pool_setup
    with pytest.raises(ValueError, match="n_instances"):
        strategy.query(X_pool, estimator=est, X_labeled=X_labeled, n_instances=bad)


def test_n_instances_not_an_int(strategy, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    with pytest.raises(TypeError, match="n_instances"):
        strategy.query(X_pool, estimator=est, X_labeled=X_labeled, n_instances=2.5)


def test_n_instances_larger_than_candidates(strategy, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    with pytest.raises(ValueError, match="larger than the number of candidates"):
        strategy.query(X_pool[:3], estimator=est, X_labeled=X_labeled, n_instances=4)


def test_empty_pool(strategy, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    with pytest.raises(ValueError, match="X_pool is empty"):
        strategy.query(X_pool[:0], estimator=est, X_labeled=X_labeled)


def test_pool_shape_differs_from_labeled(strategy, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    with pytest.raises(ValueError, match="sample shape"):
        strategy.query(X_pool[:, :4], estimator=est, X_labeled=X_labeled)


@pytest.mark.parametrize("where", ["X_pool", "X_labeled"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf_in_inputs(strategy, pool_setup, where, value):
    X_pool, X_labeled, _, est = pool_setup
    X_pool, X_labeled = X_pool.copy(), X_labeled.copy()
    (X_pool if where == "X_pool" else X_labeled)[3, 2, 2] = value
    with pytest.raises(ValueError, match=f"{where} contains NaN or inf"):
        strategy.query(X_pool, estimator=est, X_labeled=X_labeled)


class NaNEncoder(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        codes = np.asarray(X).reshape(len(X), -1)[:, :3].astype(float)
        codes[0, 0] = np.nan
        return codes


@pytest.mark.parametrize("cls", [BayesianSampleQuery, CoreSetQuery])
def test_nan_codes(cls, pool_setup):
    X_pool, X_labeled, _, _ = pool_setup
    with pytest.raises(ValueError, match="encoder produced NaN or inf codes"):
        cls(encoder=NaNEncoder()).query(X_pool, X_labeled=X_labeled)


@pytest.mark.parametrize("encoder", ["pca", object(), LogisticRegression()])
@pytest.mark.parametrize("cls", [BayesianSampleQuery, CoreSetQuery])
def test_encoder_neither_fitted_nor_fittable(cls, encoder, pool_setup):
    X_pool, X_labeled, _, _ = pool_setup
    with pytest.raises(TypeError, match="encoder"):
        cls(encoder=encoder).query(X_pool, X_labeled=X_labeled)


class UnfittableEstimator(BaseEstimator):
    def transform(self, X):  # pragma: no cover - never reached
        return np.asarray(X)

    def __sklearn_is_fitted__(self):
        return False


def test_unfitted_estimator_without_fit_is_rejected(pool_setup):
    X_pool, X_labeled, _, _ = pool_setup
    with pytest.raises(TypeError, match="neither fitted nor fittable"):
        BayesianSampleQuery(encoder=UnfittableEstimator()).query(X_pool, X_labeled=X_labeled)


def test_bad_strategy_parameters(pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    with pytest.raises(ValueError, match="batch_mode"):
        BayesianSampleQuery(batch_mode="best").query(X_pool, X_labeled=X_labeled)
    with pytest.raises(ValueError, match="sigma_floor"):
        BayesianSampleQuery(sigma_floor=0).query(X_pool, X_labeled=X_labeled)
    with pytest.raises(ValueError, match="n_uncertain"):
        BayesianSampleQuery(n_uncertain=2).query(
            X_pool, estimator=est, X_labeled=X_labeled, n_instances=5
        )
    with pytest.raises(ValueError, match="n_mc"):
        UncertaintyQuery(n_mc=1).query(X_pool, estimator=est)
    with pytest.raises(ValueError, match="estimator is required"):
        UncertaintyQuery().query(X_pool)
    with pytest.raises(TypeError, match="predict_proba"):
        UncertaintyQuery().query(X_pool, estimator=PCA())


@pytest.mark.parametrize("mode", ["top", "greedy"])
def test_annotated_set_of_one_image_works(pool_setup, mode):
    X_pool, X_labeled, _, _ = pool_setup
    idx, scores = BayesianSampleQuery(encoder=PCA(3), batch_mode=mode).query(
        X_pool, X_labeled=X_labeled[:1], n_instances=4
    )
    assert np.isfinite(scores).all() and len(set(idx.tolist())) == 4


@pytest.mark.parametrize("mode", ["top", "greedy"])
def test_nothing_annotated_yet(pool_setup, mode):
    X_pool = pool_setup[0]
    _, scores = BayesianSampleQuery(encoder=PCA(3), batch_mode=mode).query(X_pool)
    assert np.isfinite(scores).all()
    _idx, dist = CoreSetQuery(random_state=0, n_instances=3).query(X_pool)
    assert np.isinf(dist[0])  # the first center is random: no distance to compare


def test_codes_50_sigma_out_give_finite_scores():
    rng = np.random.RandomState(0)
    annotated = rng.normal(size=(30, 5))
    pool = rng.normal(size=(100, 5))
    pool[7] = 50.0 * annotated.std(axis=0) + annotated.mean(axis=0)
    for mode in ("top", "greedy"):
        _idx, scores = BayesianSampleQuery(n_instances=3, batch_mode=mode).query(
            pool, X_labeled=annotated
        )
        assert np.isfinite(scores).all()


def test_learner_rejects_wrong_y_length_and_shapes(digits):
    X, y = digits
    with pytest.raises(ValueError, match="y_training has 9 entries but X_training has 10"):
        ActiveLearner(LogisticRegression(), RandomQuery(), X[:10].reshape(10, -1), y[:9])
    learner = ActiveLearner(
        LogisticRegression(max_iter=300), RandomQuery(), X[:20].reshape(20, -1), y[:20]
    )
    with pytest.raises(ValueError, match="y has 2 entries but X has 3"):
        learner.teach(X[20:23].reshape(3, -1), y[20:22])
    with pytest.raises(ValueError, match="sample shape"):
        learner.teach(X[20:23], y[20:23])
    with pytest.raises(ValueError, match="together"):
        ActiveLearner(LogisticRegression(), RandomQuery(), X_training=X[:3])
    with pytest.raises(TypeError, match="query_strategy"):
        ActiveLearner(LogisticRegression(), query_strategy="random")


@pytest.mark.parametrize("scale", [1e154, 1e170, 1e-200])
@pytest.mark.parametrize("mode", ["top", "greedy"])
def test_bsq_on_codes_of_extreme_magnitude(pool_setup, scale, mode):
    # no duplicate indices and no -inf scores: the same batch as on unscaled codes
    X_pool, X_labeled, _, _ = pool_setup
    flat = [X.reshape(len(X), -1) + np.arange(64) * 1e-3 for X in (X_pool, X_labeled)]
    reference = BayesianSampleQuery(batch_mode=mode).query(
        flat[0], X_labeled=flat[1], n_instances=8
    )
    idx, scores = BayesianSampleQuery(batch_mode=mode).query(
        flat[0] * scale, X_labeled=flat[1] * scale, n_instances=8
    )
    assert len(set(idx.tolist())) == 8 and np.isfinite(scores).all()
    np.testing.assert_array_equal(idx, reference[0])
