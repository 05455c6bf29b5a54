"""The template every strategy passes (scikit-activeml's habit)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bsqkit import (
    ActiveLearner,
    BayesianSampleQuery,
    CoreSetQuery,
    ForegroundRandomQuery,
    RandomQuery,
    SuggestiveAnnotationQuery,
    UncertaintyQuery,
)

STRATEGIES = {
    "random": lambda: RandomQuery(random_state=0),
    "uncertainty-mc": lambda: UncertaintyQuery(n_mc=5, random_state=0),
    "sa-estimator-descriptors": lambda: SuggestiveAnnotationQuery(
        n_uncertain=30, n_mc=5, random_state=0
    ),
    "sa-pca-descriptor": lambda: SuggestiveAnnotationQuery(
        descriptor=PCA(10), n_uncertain=30, n_mc=5, random_state=0
    ),
    "bsq-top": lambda: BayesianSampleQuery(encoder=PCA(5), random_state=0),
    "bsq-top-uncertain": lambda: BayesianSampleQuery(
        encoder=PCA(5), n_uncertain=30, n_mc=5, random_state=0
    ),
    "bsq-greedy": lambda: BayesianSampleQuery(encoder=PCA(5), batch_mode="greedy"),
    "coreset": lambda: CoreSetQuery(encoder=PCA(5), random_state=0),
    "random-foreground": lambda: ForegroundRandomQuery(random_state=0),
}
# strategies whose scores never increase along the batch
NON_INCREASING = {k for k in STRATEGIES if k != "bsq-greedy"}


@pytest.fixture(params=sorted(STRATEGIES))
def name(request):
    return request.param


def _params_equal(a, b):
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert pa.keys() == pb.keys()
    for key in pa:
        if hasattr(pa[key], "get_params"):
            assert type(pa[key]) is type(pb[key])
            assert pa[key].get_params() == pb[key].get_params()
        else:
            assert pa[key] == pb[key]


def test_clone_and_get_params_round_trip(name):
    strategy = STRATEGIES[name]()
    _params_equal(strategy, clone(strategy))
    restored = type(strategy)(**strategy.get_params(deep=False))
    _params_equal(strategy, restored)
    assert pickle.loads(pickle.dumps(strategy)).get_params().keys() == strategy.get_params().keys()


def test_reproducible_with_random_state(name, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    runs = []
    for _ in range(2):
        strategy = STRATEGIES[name]()
        runs.append(
            [
                strategy.query(X_pool, estimator=est, X_labeled=X_labeled, n_instances=5)
                for _ in range(2)
            ]
        )
    for (i1, s1), (i2, s2) in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(s1, s2)


@pytest.mark.parametrize("n_instances", [1, 7])
def test_batch_sizes_unique_indices_and_scores(name, n_instances, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    idx, scores = STRATEGIES[name]().query(
        X_pool, estimator=est, X_labeled=X_labeled, n_instances=n_instances
    )
    assert idx.shape == scores.shape == (n_instances,)
    assert idx.dtype == np.intp
    assert len(np.unique(idx)) == n_instances
    assert idx.min() >= 0 and idx.max() < len(X_pool)
    assert np.isfinite(scores).all()
    if name in NON_INCREASING:
        assert np.all(np.diff(scores) <= 1e-9)


def test_default_n_instances_from_the_constructor(name, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    strategy = STRATEGIES[name]().set_params(n_instances=3)
    idx, _ = strategy.query(X_pool, estimator=est, X_labeled=X_labeled)
    assert idx.shape == (3,)


def test_inputs_and_estimator_not_mutated(name, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    strategy = STRATEGIES[name]()
    params_before = pickle.dumps(strategy.get_params())
    pool_copy, labeled_copy = X_pool.copy(), X_labeled.copy()
    est_before = pickle.dumps(est)
    strategy.query(X_pool, estimator=est, X_labeled=X_labeled, n_instances=4)
    np.testing.assert_array_equal(X_pool, pool_copy)
    np.testing.assert_array_equal(X_labeled, labeled_copy)
    assert pickle.dumps(est) == est_before
    assert pickle.dumps(strategy.get_params()) == params_before
    for value in strategy.get_params(deep=False).values():
        if isinstance(value, PCA):
            assert not hasattr(value, "components_")  # the user's encoder stays unfitted


def test_active_learning_cycles_with_bsqkit_learner(name, digits):
    X, y = digits
    X_pool, y_pool = X[40:300].copy(), y[40:300].copy()
    from tests.conftest import ToyMCClassifier

    learner = ActiveLearner(ToyMCClassifier(), STRATEGIES[name](), X[:40], y[:40])
    seen = set()
    for _ in range(3):
        idx, X_query, scores = learner.query(X_pool, n_instances=4, return_metrics=True)
        np.testing.assert_array_equal(X_query, X_pool[idx])
        assert scores.shape == (4,)
        learner.teach(X_query, y_pool[idx])
        key = {X_pool[i].tobytes() for i in idx}
        assert not key & seen
        seen |= key
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
    assert len(learner.X_training) == 52
    assert learner.predict(X[:5]).shape == (5,)


def test_works_as_modal_query_strategy_and_is_called_once(name, digits):
    modal = pytest.importorskip("modAL.models")
    from tests.conftest import ToyMCClassifier

    X, y = digits
    X_pool = X[40:300]
    strategy = STRATEGIES[name]()
    calls = []

    def counted(learner, X_pool, **kwargs):
        calls.append(1)
        return strategy(learner, X_pool, **kwargs)

    learner = modal.ActiveLearner(
        estimator=ToyMCClassifier(), query_strategy=counted, X_training=X[:40], y_training=y[:40]
    )
    idx, X_query = learner.query(X_pool, n_instances=5)
    assert len(calls) == 1  # a tuple unpacks: modAL never re-runs the strategy
    np.testing.assert_array_equal(X_query, X_pool[np.asarray(idx)])
    expected, _ = STRATEGIES[name]().query(
        X_pool, estimator=learner.estimator, X_labeled=X[:40], n_instances=5
    )
    np.testing.assert_array_equal(idx, expected)
    # modAL 0.4.2's teach() calls check_X_y(force_all_finite=...), removed in
    # scikit-learn 1.8: a second cycle starts a new modAL learner on the grown set
    grown = modal.ActiveLearner(
        estimator=ToyMCClassifier(),
        query_strategy=strategy,
        X_training=np.concatenate([X[:40], X_query]),
        y_training=np.concatenate([y[:40], y[40:300][idx]]),
    )
    idx2, _ = grown.query(np.delete(X_pool, idx, axis=0), n_instances=2)
    assert len(idx2) == 2
    # the strategy object itself is a valid modAL query_strategy
    direct = modal.ActiveLearner(
        estimator=LogisticRegression(max_iter=300),
        query_strategy=STRATEGIES[name](),
        X_training=X[:40].reshape(40, -1),
        y_training=y[:40],
    )
    if name in {"sa-estimator-descriptors"}:
        return  # LogisticRegression provides no image descriptors
    i3, _ = direct.query(X_pool.reshape(len(X_pool), -1), n_instances=3)
    assert len(i3) == 3


# -- reproducibility with stochastic parts, set_params, parameter validation -------------


def _stochastic_bsq(random_state):
    from bsqkit.nets import MMDVAEEncoder

    encoder = MMDVAEEncoder(  # its own random_state left at None: the strategy seeds it
        n_latent=3,
        input_size=8,
        module__n_blocks=2,
        module__width=4,
        max_epochs=2,
        progress_bar=False,
    )
    return BayesianSampleQuery(
        encoder=encoder, n_uncertain=40, n_mc=4, batch_mode="greedy", random_state=random_state
    )


def _query_sequence(strategy, X, y, n_rounds=2):
    from tests.conftest import ToyMCClassifier

    labeled = list(range(20))
    picks = []
    for _ in range(n_rounds):
        est = ToyMCClassifier().fit(X[labeled], y[labeled])  # MC dropout: stochastic
        pool = np.setdiff1d(np.arange(len(X)), labeled)
        idx, _ = strategy.query(X[pool], estimator=est, X_labeled=X[labeled], n_instances=5)
        picks.append(pool[idx].tolist())
        labeled += pool[idx].tolist()
    return picks


def test_int_random_state_reproduces_stochastic_encoder_and_estimator(digits):
    X, y = digits[0][:200], digits[1][:200]
    first = _query_sequence(_stochastic_bsq(0), X, y)
    assert _query_sequence(_stochastic_bsq(0), X, y) == first
    assert _query_sequence(clone(_stochastic_bsq(0)), X, y) == first
    # the user's encoder is cloned, never seeded or fitted in place
    strategy = _stochastic_bsq(0)
    _query_sequence(strategy, X, y, n_rounds=1)
    assert strategy.encoder.random_state is None and not strategy.encoder.initialized_


def test_none_random_state_is_fresh_randomness(digits):
    X, y = digits[0][:200], digits[1][:200]
    runs = {str(_query_sequence(RandomQuery(), X, y)) for _ in range(3)}
    assert len(runs) > 1
    from bsqkit.functional import k_center_greedy

    codes = np.random.RandomState(0).normal(size=(500, 2))
    firsts = {int(k_center_greedy(codes, None, 1)[0][0]) for _ in range(10)}
    assert len(firsts) > 1  # no hidden seed 0


def test_predict_proba_mc_without_seed_draws_fresh_masks():
    from bsqkit.nets import NeuralNetSegmenter

    X = np.random.RandomState(0).rand(4, 16, 16).astype(np.float32)
    seg = NeuralNetSegmenter(
        max_steps=1, module__width=4, module__depth=2, progress_bar=False, random_state=0
    ).fit(X, (X > 0.5).astype(np.int64))
    a = np.concatenate([p.numpy() for p in seg.predict_proba_mc(X, n_mc=2)])
    b = np.concatenate([p.numpy() for p in seg.predict_proba_mc(X, n_mc=2)])
    assert not np.allclose(a, b)
    c = np.concatenate([p.numpy() for p in seg.predict_proba_mc(X, n_mc=2, random_state=3)])
    d = np.concatenate([p.numpy() for p in seg.predict_proba_mc(X, n_mc=2, random_state=3)])
    np.testing.assert_array_equal(c, d)


# each parameter with another valid value; a group query, so that group_aggregate counts
CHANGES = {
    "random": {"n_instances": 3, "random_state": 1},
    "uncertainty-mc": {"n_instances": 3, "n_mc": 3, "group_aggregate": "max", "random_state": 1},
    "sa-pca-descriptor": {
        "descriptor": PCA(4),
        "descriptor__n_components": 3,
        "n_uncertain": 12,
        "n_mc": 3,
        "group_aggregate": "sum",
        "random_state": 1,
        "n_instances": 2,
    },
    "bsq-top-uncertain": {
        "encoder": PCA(3),
        "encoder__n_components": 2,
        "n_uncertain": 12,
        "batch_mode": "greedy",
        "sigma_floor": 0.5,
        "n_mc": 3,
        "group_aggregate": "max",
        "random_state": 1,
        "n_instances": 2,
    },
    "coreset": {"encoder": PCA(2), "encoder__n_components": 3, "random_state": 1},
}


@pytest.mark.parametrize(
    ("name", "param"), [(n, p) for n, changes in CHANGES.items() for p in changes]
)
def test_set_params_after_a_query_takes_effect(name, param, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    groups = np.arange(len(X_pool)) // 9  # 40 groups of 9

    def query(strategy):
        return strategy.query(X_pool, estimator=est, X_labeled=X_labeled, groups=groups)

    used = STRATEGIES[name]().set_params(n_instances=1)
    query(used)
    value = CHANGES[name][param]
    used.set_params(**{param: value})
    after = query(used)
    # the same as a strategy built with the new value: one that has not queried yet
    # when the change makes learned state stale (encoder, random stream), else one that
    # has queried once already
    fresh = STRATEGIES[name]().set_params(n_instances=1).set_params(**{param: value})
    stale_state = param.split("__")[0] in ("random_state", "encoder", "descriptor")
    if not stale_state:
        query(fresh)
    expected = query(fresh)
    np.testing.assert_array_equal(after[0], expected[0])
    np.testing.assert_allclose(after[1], expected[1])


@pytest.mark.parametrize(
    ("make", "param"),
    [
        (lambda: BayesianSampleQuery(n_uncertain=2.5), "n_uncertain"),
        (lambda: BayesianSampleQuery(n_uncertain=0), "n_uncertain"),
        (lambda: BayesianSampleQuery(batch_mode="best"), "batch_mode"),
        (lambda: BayesianSampleQuery(sigma_floor=-1.0), "sigma_floor"),
        (lambda: BayesianSampleQuery(encoder="pca"), "encoder"),
        (lambda: BayesianSampleQuery(group_aggregate="median"), "group_aggregate"),
        (lambda: UncertaintyQuery(n_mc=1), "n_mc"),
        (lambda: UncertaintyQuery(n_mc=4.0), "n_mc"),
        (lambda: SuggestiveAnnotationQuery(n_uncertain=None), "n_uncertain"),
        (lambda: SuggestiveAnnotationQuery(descriptor=object()), "descriptor"),
        (lambda: CoreSetQuery(encoder=LogisticRegression), "encoder"),
        (lambda: RandomQuery(n_instances=2.0), "n_instances"),
        (lambda: RandomQuery(random_state="seed"), "random_state"),
    ],
)
def test_parameters_are_validated_up_front(make, param, pool_setup):
    from sklearn.utils._param_validation import InvalidParameterError

    X_pool, X_labeled, _, est = pool_setup
    strategy = make()
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        strategy.query(X_pool, estimator=est, X_labeled=X_labeled)
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        strategy.fit(X_pool)


# -- what drove each pick ------------------------------------------------------------------
@pytest.mark.parametrize("grouped", [False, True])
def test_pick_details_line_up_with_the_picks_and_are_described(name, grouped, pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    strategy = STRATEGIES[name]()
    groups = np.arange(len(X_pool)) // 4 if grouped else None
    _, scores = strategy.query(
        X_pool, estimator=est, X_labeled=X_labeled, n_instances=5, groups=groups
    )
    details = strategy.pick_details_
    np.testing.assert_array_equal(details["score"], scores)
    assert set(details) == set(strategy.describe_picks())
    for key, values in details.items():
        assert values.shape == scores.shape and not np.isnan(values).any(), key


def _bsq_reference(strategy, X_pool, X_labeled, rows):
    """BSQ's score of pool rows against the pool and annotated Gaussians, recomputed
    from the fitted encoder with bsqkit.functional."""
    from bsqkit.functional import bsq_scores, fit_bsq_gaussians

    encode = strategy.encoder_.transform
    codes, labeled = (encode(X.reshape(len(X), -1)) for X in (X_pool, X_labeled))
    mu_p, s_p, mu_a, s_a = fit_bsq_gaussians([codes, labeled], labeled, strategy.sigma_floor)
    return bsq_scores(codes[rows], mu_p, s_p, mu_a, s_a)


@pytest.mark.parametrize("batch_mode", ["top", "greedy"])
def test_pick_details_are_what_the_selection_computed(batch_mode, digits):
    from bsqkit.query import estimate_uncertainty

    X, y = digits
    X_labeled, X_pool = X[:40], X[40:400]
    clf = LogisticRegression(max_iter=300).fit(X_labeled.reshape(40, -1), y[:40])
    strategy = BayesianSampleQuery(
        encoder=PCA(5), n_uncertain=40, batch_mode=batch_mode, n_instances=6, random_state=0
    )
    idx, _ = strategy.query(X_pool.reshape(360, -1), estimator=clf,
                                 X_labeled=X_labeled.reshape(40, -1))  # fmt: skip
    details = strategy.pick_details_
    flat = X_pool.reshape(360, -1)
    # the uncertainty that put each pick on the shortlist (entropy: no MC draws)
    np.testing.assert_allclose(details["uncertainty"], estimate_uncertainty(clf, flat[idx]))
    reference = _bsq_reference(strategy, flat, X_labeled.reshape(40, -1), idx)
    np.testing.assert_allclose(details["representativeness"], reference, rtol=1e-9)
    if batch_mode == "top":
        np.testing.assert_array_equal(details["score"], details["representativeness"])
    else:  # the first pick is scored against the annotated set alone, later ones are not
        assert details["score"][0] == pytest.approx(details["representativeness"][0])
        assert not np.allclose(details["score"][1:], details["representativeness"][1:])
    sa = SuggestiveAnnotationQuery(descriptor=PCA(5), n_uncertain=30, n_instances=4)
    idx, _ = sa.query(flat, estimator=clf, X_labeled=X_labeled.reshape(40, -1))
    np.testing.assert_allclose(
        sa.pick_details_["uncertainty"], estimate_uncertainty(clf, flat[idx])
    )
