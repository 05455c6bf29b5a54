"""Each strategy's scores against a recomputation of what it should select."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bsqkit import (
    BayesianSampleQuery,
    CoreSetQuery,
    SuggestiveAnnotationQuery,
    UncertaintyQuery,
)
from bsqkit.functional import (
    bsq_scores,
    fit_diagonal_gaussian,
    greedy_max_cover,
    k_center_greedy,
    predictive_entropy,
)
from bsqkit.preprocessing import FlattenTransformer
from bsqkit.query import estimate_uncertainty


def test_uncertainty_entropy_fallback_for_plain_classifier(digits):
    X, y = digits
    X2 = X.reshape(len(X), -1)
    clf = LogisticRegression(max_iter=300).fit(X2[:40], y[:40])
    idx, scores = UncertaintyQuery(n_instances=6).query(X2[40:], estimator=clf)
    entropy = predictive_entropy(clf.predict_proba(X2[40:]))
    np.testing.assert_allclose(scores, entropy[idx])
    assert scores.min() >= np.delete(entropy, idx).max()


def test_uncertainty_uses_mc_protocol_when_available(pool_setup):
    X_pool, _X_labeled, _, est = pool_setup
    idx, scores = UncertaintyQuery(n_instances=5, n_mc=9, random_state=3).query(
        X_pool, estimator=est
    )
    seed = np.random.RandomState(3).randint(2**31 - 1)
    values = estimate_uncertainty(est, X_pool, n_mc=9, random_state=seed)
    np.testing.assert_allclose(scores, values[idx])
    assert scores.min() >= np.delete(values, idx).max()
    # MC variance, not entropy: it differs from the deterministic entropy ranking
    assert not np.allclose(values, predictive_entropy(est.predict_proba(X_pool)))


def test_bsq_top_scores_are_the_paper_scores(pool_setup):
    X_pool, X_labeled, _, _ = pool_setup
    bsq = BayesianSampleQuery(encoder=PCA(4), n_instances=8)
    idx, scores = bsq.query(X_pool, X_labeled=X_labeled)
    codes, codes_l = bsq.transform(X_pool), bsq.transform(X_labeled)
    mu_p, s_p = fit_diagonal_gaussian(np.vstack([codes_l, codes]))
    mu_a, s_a = fit_diagonal_gaussian(codes_l, min_sigma=1e-3 * s_p)
    expected = bsq_scores(codes, mu_p, s_p, mu_a, s_a)
    np.testing.assert_allclose(scores, expected[idx])
    assert scores.min() >= np.delete(expected, idx).max()


def test_bsq_encoder_fitted_once_on_the_whole_pool_and_reused(pool_setup):
    X_pool, X_labeled, _, _ = pool_setup
    bsq = BayesianSampleQuery(encoder=PCA(3))
    bsq.query(X_pool, X_labeled=X_labeled)
    first = bsq.encoder_
    reference = PCA(3).fit(np.concatenate([X_labeled, X_pool]).reshape(-1, 64))
    np.testing.assert_allclose(np.abs(first.components_), np.abs(reference.components_))
    bsq.query(X_pool[10:], X_labeled=np.concatenate([X_labeled, X_pool[:10]]))
    assert bsq.encoder_ is first


def test_bsq_explicit_fit_and_prefitted_encoder(pool_setup):
    X_pool, X_labeled, _, _ = pool_setup
    X_all = np.concatenate([X_labeled, X_pool])
    fitted = BayesianSampleQuery(encoder=PCA(3)).fit(X_all)
    prefit = PCA(3).fit(X_all.reshape(len(X_all), -1))
    used = BayesianSampleQuery(encoder=prefit)
    a = fitted.query(X_pool, X_labeled=X_labeled, n_instances=5)
    b = used.query(X_pool, X_labeled=X_labeled, n_instances=5)
    np.testing.assert_array_equal(a[0], b[0])
    assert used.encoder_ is prefit  # a fitted encoder is used as it is, not refitted


def test_bsq_uncertain_subset_restricts_candidates(pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    bsq = BayesianSampleQuery(encoder=PCA(4), n_uncertain=20, n_mc=5, random_state=0)
    idx, _ = bsq.query(X_pool, estimator=est, X_labeled=X_labeled, n_instances=5)
    seed = np.random.RandomState(0).randint(2**31 - 1)
    unc = estimate_uncertainty(est, X_pool, n_mc=5, random_state=seed)
    top20 = set(np.argsort(-unc)[:20].tolist())
    assert set(idx.tolist()) <= top20


def test_bsq_greedy_spreads_a_batch_more_than_top():
    # a pool with a large unannotated cluster: top mode piles the batch there
    rng = np.random.RandomState(0)
    annotated = rng.normal(-2, 0.5, size=(20, 2))
    pool = np.vstack([rng.normal(-2, 0.5, size=(200, 2)), rng.normal(2, 0.5, size=(200, 2))])
    top = BayesianSampleQuery(n_instances=10).query(pool, X_labeled=annotated)[0]
    greedy = BayesianSampleQuery(n_instances=10, batch_mode="greedy").query(
        pool, X_labeled=annotated
    )[0]

    def spread(i):
        return np.linalg.norm(pool[i] - pool[i].mean(0), axis=1).mean()

    assert spread(greedy) > spread(top)


def test_suggestive_annotation_matches_max_cover_on_the_uncertain_set(pool_setup):
    X_pool, X_labeled, _, est = pool_setup
    sa = SuggestiveAnnotationQuery(n_uncertain=25, n_mc=5, random_state=1)
    idx, gains = sa.query(X_pool, estimator=est, X_labeled=X_labeled, n_instances=6)
    seed = np.random.RandomState(1).randint(2**31 - 1)
    unc = estimate_uncertainty(est, X_pool, n_mc=5, random_state=seed)
    cand = np.argsort(-unc, kind="stable")[:25]
    desc = est.image_descriptors(X_pool)
    picks, expected = greedy_max_cover(desc[cand], desc, 6)
    np.testing.assert_array_equal(idx, cand[picks])
    np.testing.assert_allclose(gains, expected)


def test_suggestive_annotation_needs_descriptors(digits):
    X, y = digits
    X2 = X.reshape(len(X), -1)
    clf = LogisticRegression(max_iter=300).fit(X2[:40], y[:40])
    with pytest.raises(TypeError, match="descriptor"):
        SuggestiveAnnotationQuery().query(X2[40:], estimator=clf)
    sa = SuggestiveAnnotationQuery(descriptor=FlattenTransformer(), n_uncertain=10)
    assert sa.query(X2[40:], estimator=clf, n_instances=2)[0].shape == (2,)


def test_coreset_equals_k_center_on_the_codes(pool_setup):
    X_pool, X_labeled, _, _ = pool_setup
    cs = CoreSetQuery(encoder=PCA(4), n_instances=5)
    idx, dist = cs.query(X_pool, X_labeled=X_labeled)
    expected = k_center_greedy(cs.transform(X_pool), cs.transform(X_labeled), 5)
    np.testing.assert_array_equal(idx, expected[0])
    np.testing.assert_allclose(dist, expected[1])


def test_torch_tensor_pool(pool_setup):
    torch = pytest.importorskip("torch")
    X_pool, X_labeled, _, _ = pool_setup
    a = CoreSetQuery(n_instances=4).query(X_pool, X_labeled=X_labeled)
    b = CoreSetQuery(n_instances=4).query(torch.as_tensor(X_pool), X_labeled=X_labeled)
    np.testing.assert_array_equal(a[0], b[0])


class _Thresholder:
    """Predicts foreground where an image is bright: label maps from images."""

    def predict(self, X):
        return (np.asarray(X) > 0.5).astype(int)


def test_foreground_random_draws_among_predicted_foreground_then_the_rest():
    from bsqkit import ForegroundRandomQuery

    X = np.zeros((40, 4, 4))
    bright = np.array([3, 7, 11, 19, 23, 31])
    X[bright, 1:3, 1:3] = 1.0
    picks = set()
    for seed in range(30):
        idx, scores = ForegroundRandomQuery(n_instances=3, random_state=seed).query(
            X, estimator=_Thresholder()
        )
        assert set(idx.tolist()) <= set(bright.tolist()) and np.all(scores >= 1)
        picks |= set(idx.tolist())
    assert picks == set(bright.tolist())  # every foreground image gets drawn
    # more wanted than there is foreground: all of it first, then others at random
    idx, scores = ForegroundRandomQuery(n_instances=8, random_state=0).query(
        X, estimator=_Thresholder()
    )
    assert set(idx[:6].tolist()) == set(bright.tolist()) and np.all(scores[6:] < 1)
    with pytest.raises(TypeError, match="predict"):
        ForegroundRandomQuery().query(X)
    # a group query draws among groups with a foreground member
    groups = np.arange(40) // 4  # bright images in groups 0, 1, 2, 4, 5, 7
    idx, _ = ForegroundRandomQuery(n_instances=2, random_state=1).query(
        X, estimator=_Thresholder(), groups=groups
    )
    assert set(groups[idx].tolist()) <= {0, 1, 2, 4, 5, 7} and len(idx) == 8


def test_coreset_on_estimator_descriptors(pool_setup):
    from bsqkit.preprocessing import EstimatorDescriptors

    X_pool, X_labeled, _, est = pool_setup
    idx, dist = CoreSetQuery(encoder=EstimatorDescriptors(est), n_instances=4).query(
        X_pool, X_labeled=X_labeled
    )
    expected = k_center_greedy(est.image_descriptors(X_pool), est.image_descriptors(X_labeled), 4)
    np.testing.assert_array_equal(idx, expected[0])
    np.testing.assert_allclose(dist, expected[1])


def test_bsq_top_on_float32_codes_makes_no_float64_copy_of_the_pool():
    import tracemalloc

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200_000, 64)).astype(np.float32)
    X_labeled = rng.normal(size=(50, 64)).astype(np.float32)
    query = BayesianSampleQuery(n_instances=8, random_state=0)
    tracemalloc.start()
    try:
        idx, _ = query.query(X, X_labeled=X_labeled)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * X.nbytes, f"peak {peak / X.nbytes:.2f}x the pool"
    # the same selection as on float64 codes
    np.testing.assert_array_equal(idx, query.query(X.astype(np.float64), X_labeled=X_labeled)[0])


def test_selections_run_on_the_models_device(pool_setup, monkeypatch):
    # max-cover on the estimator's device, k-center on the encoder's; anything torch
    # cannot read as a device means the CPU
    import torch

    from bsqkit.base import torch_device_of
    from bsqkit.query import core_set, suggestive_annotation

    class Model:
        def __init__(self, device):
            self.device = device

    assert torch_device_of(Model("cpu")) == torch.device("cpu")
    for odd in (None, -1, "no-such-device", object()):
        assert torch_device_of(Model(odd)) == torch.device("cpu")
    assert torch_device_of(PCA()) == torch.device("cpu")

    seen = []

    def recorder(function):
        # records where it was asked to run, then runs on the CPU ("meta" holds no data)
        def wrapped(*args, device, **kwargs):
            seen.append(torch.device(device))
            return function(*args, device="cpu", **kwargs)

        return wrapped

    monkeypatch.setattr(suggestive_annotation, "greedy_max_cover", recorder(greedy_max_cover))
    monkeypatch.setattr(core_set, "k_center_greedy", recorder(k_center_greedy))
    X_pool, X_labeled, _, est = pool_setup
    monkeypatch.setattr(est, "device", "meta", raising=False)
    SuggestiveAnnotationQuery(n_uncertain=10, n_mc=3, random_state=0).query(
        X_pool, estimator=est, X_labeled=X_labeled, n_instances=2
    )
    encoder = PCA(3).fit(X_pool.reshape(len(X_pool), -1))
    encoder.device = "meta"  # fitted: the strategy uses it as it is
    CoreSetQuery(encoder=encoder, n_instances=2).query(X_pool, X_labeled=X_labeled)
    assert seen == [torch.device("meta"), torch.device("meta")]
