import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from bsqkit import ActiveLearner, BayesianSampleQuery, RandomQuery, UncertaintyQuery


def test_teach_grows_the_labeled_set_and_refits(digits):
    X, y = digits
    X2 = X.reshape(len(X), -1)
    learner = ActiveLearner(
        LogisticRegression(max_iter=300),
        RandomQuery(random_state=0),
        X_training=X2[:10],
        y_training=y[:10],
    )
    before = learner.score(X2[500:], y[500:])
    learner.teach(X2[10:200], y[10:200])
    assert len(learner.X_training) == len(learner.y_training) == 200
    assert learner.score(X2[500:], y[500:]) > before
    assert learner.predict_proba(X2[:3]).shape == (3, 10)


def test_only_new_fits_on_the_new_samples(digits):
    X, y = digits
    X2 = X.reshape(len(X), -1)
    learner = ActiveLearner(
        LogisticRegression(max_iter=300), X_training=X2[:50], y_training=y[:50]
    )
    assert isinstance(learner.query_strategy, UncertaintyQuery)
    learner.teach(X2[50:60], y[50:60], only_new=True)
    assert len(learner.X_training) == 60
    assert set(learner.estimator.classes_) == set(np.unique(y[50:60]))


def test_unfitted_learner_can_be_taught_later(digits):
    X, y = digits
    X2 = X.reshape(len(X), -1)
    learner = ActiveLearner(LogisticRegression(max_iter=300), RandomQuery(random_state=1))
    idx, X_query = learner.query(X2, n_instances=30)
    learner.teach(X_query, y[idx])
    assert len(learner.X_training) == 30


def test_dataframe_pool_rows_by_position_and_nan_checked(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    flat = X.reshape(len(X), -1)
    learner = ActiveLearner(
        LogisticRegression(max_iter=300),
        BayesianSampleQuery(n_instances=3),
        X_training=flat[:30],
        y_training=y[:30],
    )
    # a pool whose index labels are not positions, with as many columns as rows
    frame = pd.DataFrame(flat[100:164], index=np.arange(64)[::-1] * 7)
    idx, X_query = learner.query(frame)
    assert isinstance(X_query, pd.DataFrame)
    np.testing.assert_array_equal(X_query.to_numpy(), flat[100:164][idx])
    expected, _ = BayesianSampleQuery(n_instances=3).query(flat[100:164], X_labeled=flat[:30])
    np.testing.assert_array_equal(idx, expected)
    frame.iloc[5, 3] = np.nan
    with pytest.raises(ValueError, match="X_pool contains NaN"):
        learner.query(frame)
