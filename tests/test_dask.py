"""Dask pools: every strategy picks what it picks on the same pool in memory.

The threaded scheduler covers every strategy, plain and group queries; a
``LocalCluster`` of two worker processes runs the strategies once more the way a user
with a cluster would (the model and encoder pickled to the workers).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bsqkit import (
    ActiveLearner,
    BayesianSampleQuery,
    CoreSetQuery,
    ForegroundRandomQuery,
    QueryStrategy,
    RandomQuery,
    SuggestiveAnnotationQuery,
    UncertaintyQuery,
)
from bsqkit.functional import greedy_bsq_selection

da = pytest.importorskip("dask.array")


class DescribingClassifier(LogisticRegression):
    """A logistic regression that describes images by its decision function."""

    def image_descriptors(self, X):
        return self.decision_function(X)


@pytest.fixture(scope="module")
def pool():
    """600 flattened digits as the pool (uneven blocks of 128), 30 annotated, a fitted
    classifier, and 23 groups of unequal sizes scattered through the pool."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_labeled, y_labeled = X[:30], y[:30]
    X_pool = X[30:630]
    estimator = DescribingClassifier(max_iter=500).fit(X_labeled, y_labeled)
    rng = np.random.RandomState(3)
    groups = rng.permutation(np.arange(len(X_pool)) % 23)
    return X_pool, X_labeled, estimator, groups


def strategies():
    pca = PCA(n_components=6, random_state=0)
    return {
        "random": RandomQuery(random_state=0),
        "uncertainty": UncertaintyQuery(random_state=0),
        "bsq-top": BayesianSampleQuery(encoder=pca, random_state=0),
        "bsq-greedy": BayesianSampleQuery(encoder=pca, batch_mode="greedy", random_state=0),
        "bsq-top-raw": BayesianSampleQuery(random_state=0),
        "bsq-uncertain": BayesianSampleQuery(
            encoder=pca, n_uncertain=40, batch_mode="greedy", random_state=0
        ),
        "coreset": CoreSetQuery(encoder=pca, random_state=0),
        "suggestive": SuggestiveAnnotationQuery(
            descriptor=PCA(n_components=8, random_state=0), n_uncertain=30, random_state=0
        ),
        "suggestive-estimator": SuggestiveAnnotationQuery(n_uncertain=30, random_state=0),
        "random-foreground": ForegroundRandomQuery(random_state=0),
    }


def _fitted_pair(name, X_fit):
    """The same strategy twice, its encoder fitted on the same in-memory sample."""
    first, second = strategies()[name], strategies()[name]
    if hasattr(first, "_encoder_param") and getattr(first, first._encoder_param) is not None:
        first.fit(X_fit)
        second.fit(X_fit)
    return first, second


@pytest.mark.parametrize("name", list(strategies()))
@pytest.mark.parametrize("annotated", [True, False])
def test_dask_pool_same_selection_as_numpy(pool, name, annotated):
    X_pool, X_labeled, estimator, _ = pool
    if not annotated and name.startswith(("bsq-uncertain", "suggestive")):
        pytest.skip("covered with an annotated set")
    labeled = X_labeled if annotated else None
    in_memory, blocked = _fitted_pair(name, np.concatenate([X_labeled, X_pool]))
    kwargs = {"estimator": estimator, "X_labeled": labeled, "n_instances": 7}
    idx, scores = in_memory.query(X_pool, **kwargs)
    X_dask = da.from_array(X_pool, chunks=(128, 64))
    for _ in range(2):  # a second query continues the same random stream
        idx_dask, scores_dask = blocked.query(X_dask, **kwargs)
        np.testing.assert_array_equal(idx_dask, idx)
        # max-cover sums float32 similarities: block by block they round differently
        np.testing.assert_allclose(scores_dask, scores, rtol=1e-6)
        _same_details(blocked, in_memory)
        idx, scores = in_memory.query(X_pool, **kwargs)


@pytest.mark.parametrize("name", [n for n in strategies() if n != "suggestive-estimator"])
def test_dask_group_query_same_selection_as_numpy(pool, name):
    X_pool, X_labeled, estimator, groups = pool
    in_memory, blocked = _fitted_pair(name, np.concatenate([X_labeled, X_pool]))
    if name == "bsq-uncertain":
        in_memory.set_params(n_uncertain=8)
        blocked.set_params(n_uncertain=8)
    kwargs = {"estimator": estimator, "X_labeled": X_labeled, "n_instances": 3}
    idx, scores = in_memory.query(X_pool, groups=groups, **kwargs)
    X_dask = da.from_array(X_pool, chunks=100)
    # group ids as a Dask array too
    idx_dask, scores_dask = blocked.query(
        X_dask, groups=da.from_array(groups, chunks=100), **kwargs
    )
    np.testing.assert_array_equal(idx_dask, idx)
    np.testing.assert_allclose(scores_dask, scores, rtol=1e-6)
    _same_details(blocked, in_memory)


def _same_details(blocked, in_memory):
    """What drove each pick is the same on a Dask pool as in memory."""
    assert blocked.pick_details_.keys() == in_memory.pick_details_.keys()
    for key, values in in_memory.pick_details_.items():
        np.testing.assert_allclose(blocked.pick_details_[key], values, rtol=1e-6, err_msg=key)


@pytest.mark.parametrize("groups", [False, True])
@pytest.mark.parametrize("annotated", [0, 1, 40, 400])
@pytest.mark.parametrize("shortlist", [(1, 2), (20, 20)])
def test_greedy_bsq_blocks_same_picks_as_exact_greedy(monkeypatch, groups, annotated, shortlist):
    """Small shortlists, so that the check over the pool vouches for some picks and not
    for others (then made by exact passes): the picks stay those of the exact greedy."""
    import bsqkit.functional.greedy_bsq as greedy_module
    from bsqkit.functional import fit_diagonal_gaussian

    monkeypatch.setattr(greedy_module, "SHORTLIST_PER_PICK", shortlist[0])
    monkeypatch.setattr(greedy_module, "SHORTLIST_MIN", shortlist[1])
    rng = np.random.RandomState(annotated)
    codes = rng.normal(size=(3000, 5)) * [1, 2, 3, 0.5, 1]
    # an annotated set unlike the pool, or a sample of it
    labeled = rng.normal(size=(annotated, 5)) + (1.5 if annotated == 1 else 0)
    mu, sigma = fit_diagonal_gaussian(codes, *([labeled] if annotated else []))
    group_of = rng.permutation(np.arange(3000) % 400) if groups else None
    n_units = 400 if groups else 3000
    expected = greedy_bsq_selection(codes, labeled, mu, sigma, 12, groups=group_of)
    picks, scores = greedy_module.greedy_bsq_blocks(
        da.from_array(codes, chunks=(700, 5)),
        labeled if annotated else None,
        mu,
        sigma,
        12,
        1e-3,
        group_of,
        n_units,
        "mean",
    )
    np.testing.assert_array_equal(picks, expected[0])
    np.testing.assert_allclose(scores, expected[1], rtol=1e-12)


def test_greedy_bsq_blocks_check_vouches_for_several_picks(monkeypatch):
    """With an annotated set of some size, a round's check keeps several picks: fewer
    passes over the pool than picks (a check that always failed would need 2 + k)."""
    import bsqkit._dask
    import bsqkit.functional.greedy_bsq as greedy_module
    from bsqkit.functional import fit_diagonal_gaussian, groups, moments, selection

    passes = []
    real = bsqkit._dask.per_block
    for module in (greedy_module, groups, moments, selection):
        # every pass over the pool goes through per_block, whichever kernel asks for it
        monkeypatch.setattr(module, "per_block", lambda *a, **k: passes.append(1) or real(*a, **k))
    rng = np.random.RandomState(0)
    codes = rng.normal(size=(20000, 20)).astype(np.float32)
    labeled = rng.normal(size=(400, 20))
    mu, sigma = moments.moments_of(da.from_array(codes, chunks=2000), labeled)
    expected = greedy_bsq_selection(codes, labeled, mu, sigma, 16)
    picks, _ = greedy_module.greedy_bsq_blocks(
        da.from_array(codes, chunks=2000), labeled, mu, sigma, 16, 1e-3, None, 20000, "mean"
    )
    np.testing.assert_array_equal(picks, expected[0])
    assert len(passes) < 8
    # and the Dask moments are those of the pool to rounding
    np.testing.assert_allclose(mu, fit_diagonal_gaussian(codes, labeled)[0], rtol=1e-12)


@pytest.mark.parametrize("grouped", [False, True])
def test_greedy_strategy_with_a_shortlist_smaller_than_the_pool(monkeypatch, pool, grouped):
    """End to end with the check over the pool in play (a shortlist of a few rows)."""
    import bsqkit.functional.greedy_bsq as greedy_module

    monkeypatch.setattr(greedy_module, "SHORTLIST_PER_PICK", 4)
    monkeypatch.setattr(greedy_module, "SHORTLIST_MIN", 16)
    X_pool, X_labeled, _, groups = pool
    kwargs = {"X_labeled": X_labeled, "n_instances": 5}
    if grouped:
        kwargs["groups"] = groups
    make = lambda: BayesianSampleQuery(  # noqa: E731
        encoder=PCA(n_components=6, random_state=0), batch_mode="greedy", random_state=0
    ).fit(np.concatenate([X_labeled, X_pool]))
    expected = make().query(X_pool, **kwargs)
    got = make().query(da.from_array(X_pool, chunks=97), **kwargs)
    np.testing.assert_array_equal(got[0], expected[0])


def test_empty_blocks_and_ties_across_blocks():
    """Empty blocks (a filter, then compute_chunk_sizes) are dropped; equal scores in
    different blocks go to the lower row, as in memory."""
    X = np.tile(np.random.RandomState(0).normal(size=(50, 4)), (4, 1))  # each row 4 times
    keep = (np.arange(len(X)) < 60) | (np.arange(len(X)) >= 120)  # all of block 1 goes
    X_dask = da.from_array(X, chunks=60)
    filtered = X_dask[da.from_array(keep, chunks=60)].compute_chunk_sizes()
    assert 0 in filtered.chunks[0]
    X = X[keep]
    for strategy in (BayesianSampleQuery(n_instances=6), CoreSetQuery(n_instances=6)):
        expected = strategy.query(X, X_labeled=X[:3] + 1)
        got = strategy.query(filtered, X_labeled=X[:3] + 1)
        np.testing.assert_array_equal(got[0], expected[0])


def test_images_pool_and_learner_with_dask(pool, digits):
    """Images (n, 8, 8) chunked along every axis: rechunked to whole images; the learner
    returns the queried images as a numpy array."""
    X, y = digits
    X_pool = da.from_array(X[100:500], chunks=(90, 4, 4))
    learner = ActiveLearner(
        _Flat(LogisticRegression(max_iter=300)),
        BayesianSampleQuery(n_instances=5, random_state=0),
        X_training=X[:100],
        y_training=y[:100],
    )
    idx, X_query = learner.query(X_pool)
    expected, _ = BayesianSampleQuery(n_instances=5, random_state=0).query(
        X[100:500], X_labeled=X[:100]
    )
    np.testing.assert_array_equal(idx, expected)
    assert isinstance(X_query, np.ndarray)
    np.testing.assert_array_equal(X_query, X[100:500][idx])


class _Flat:
    """A classifier on flattened images (predict_proba for uncertainty)."""

    def __init__(self, clf):
        self.clf = clf

    def fit(self, X, y):
        self.clf.fit(np.asarray(X).reshape(len(X), -1), y)
        return self

    def predict_proba(self, X):
        return self.clf.predict_proba(np.asarray(X).reshape(len(X), -1))


def test_mc_dropout_uncertainty_on_dask_is_reproducible(pool_setup):
    """MC dropout per block: masks seeded from the strategy and each block's first row,
    so the same query repeats; the scores are the blocks' MC variances."""
    X_pool, _, _, estimator = pool_setup
    X_dask = da.from_array(X_pool, chunks=(50, 8, 8))
    first = UncertaintyQuery(n_instances=6, random_state=4).query(X_dask, estimator=estimator)
    again = UncertaintyQuery(n_instances=6, random_state=4).query(X_dask, estimator=estimator)
    np.testing.assert_array_equal(first[0], again[0])
    # the chosen samples are among the most uncertain in memory too (other masks)
    from bsqkit.query import estimate_uncertainty

    values = estimate_uncertainty(estimator, X_pool, n_mc=64, random_state=0)
    assert np.median(values[first[0]]) > np.quantile(values, 0.8)


def test_dask_bad_input(pool):
    X_pool, X_labeled, estimator, _ = pool
    X_dask = da.from_array(X_pool, chunks=100)
    filtered = X_dask[X_dask[:, 10] > 0.1]
    with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        RandomQuery().query(filtered)
    with pytest.raises(ValueError, match=r"encoder is not fitted.*strategy\.fit"):
        BayesianSampleQuery(encoder=PCA(2)).query(X_dask, X_labeled=X_labeled)
    fitted = BayesianSampleQuery(encoder=PCA(2)).fit(X_pool)
    with pytest.raises(ValueError, match=r"X has 32 features.*expecting 64"):
        fitted.query(da.from_array(X_pool[:, :32], chunks=100))
    nan_pool = X_pool.copy()
    nan_pool[333, 5] = np.nan
    with pytest.raises(ValueError, match="X_pool contains NaN"):
        BayesianSampleQuery().query(da.from_array(nan_pool, chunks=100))
    # strategies that call the model block by block check each block as they do in memory
    for strategy in (UncertaintyQuery(), ForegroundRandomQuery()):
        with pytest.raises(ValueError, match="X_pool contains NaN"):
            strategy.query(da.from_array(nan_pool, chunks=100), estimator=estimator)

    class Brightest(QueryStrategy):
        def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng):
            raise AssertionError("not reached")

    with pytest.raises(TypeError, match="Brightest does not take Dask pools"):
        Brightest().query(X_dask)

    class MyBSQ(BayesianSampleQuery):
        # overrides the in-memory selection only: the parent's Dask path would not match
        def _select(self, X_pool, **kwargs):
            return super()._select(X_pool, **kwargs)

    with pytest.raises(TypeError, match="MyBSQ does not take Dask pools"):
        MyBSQ().query(X_dask)


@pytest.mark.slow
def test_local_cluster_two_processes(pool, monkeypatch):
    """The strategies on a LocalCluster of 2 worker processes: same picks as in memory."""
    distributed = pytest.importorskip("distributed")
    import dask

    import bsqkit.functional.greedy_bsq as greedy_module
    from bsqkit._dask import shared

    X_pool, X_labeled, estimator, groups = pool
    X_dask = da.from_array(X_pool, chunks=150)
    # greedy BSQ's shortlist smaller than the pool: its check runs on the workers too
    monkeypatch.setattr(greedy_module, "SHORTLIST_PER_PICK", 4)
    monkeypatch.setattr(greedy_module, "SHORTLIST_MIN", 16)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        # the model goes to the workers once, as a future, not inside every task; not
        # when another scheduler is chosen for the computation
        assert isinstance(shared(estimator), distributed.Future)
        with dask.config.set(scheduler="threads"):
            assert shared(estimator) is estimator
        for name in ("uncertainty", "bsq-greedy", "coreset", "suggestive"):
            in_memory, blocked = _fitted_pair(name, np.concatenate([X_labeled, X_pool]))
            kwargs = {"estimator": estimator, "X_labeled": X_labeled, "n_instances": 4}
            expected = in_memory.query(X_pool, **kwargs)
            got = blocked.query(X_dask, **kwargs)
            np.testing.assert_array_equal(got[0], expected[0], err_msg=name)
            expected = in_memory.query(X_pool, groups=groups, **kwargs)
            got = blocked.query(X_dask, groups=groups, **kwargs)
            np.testing.assert_array_equal(got[0], expected[0], err_msg=name)


class DyingClassifier:
    """A fitted classifier that kills the worker process it predicts on, as a lost
    machine would: once (``marker``, a file, records that it died), or every time."""

    def __init__(self, estimator, marker, every_time=False):
        self.estimator, self.marker, self.every_time = estimator, marker, every_time
        self.classes_ = estimator.classes_

    def predict_proba(self, X):
        import os

        from distributed import get_worker

        try:
            get_worker()
        except ValueError:  # on the client (the in-memory reference): predict
            return self.estimator.predict_proba(X)
        if self.every_time or not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return self.estimator.predict_proba(X)


@pytest.mark.slow
def test_lost_worker_recomputed_or_query_fails(pool, tmp_path):
    """A worker that dies mid-query: Dask reruns its blocks elsewhere and the selection is
    the in-memory one; a worker lost on every try fails the query with Dask's
    error (no selection at all, never a partial one)."""
    distributed = pytest.importorskip("distributed")
    import dask
    from distributed.client import FutureCancelledError

    X_pool, _, estimator, _ = pool
    X_dask = da.from_array(X_pool, chunks=150)
    expected = UncertaintyQuery(random_state=0).query(X_pool, estimator=estimator, n_instances=4)[
        0
    ]
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        once = DyingClassifier(estimator, str(tmp_path / "died"))
        got = UncertaintyQuery(random_state=0).query(X_dask, estimator=once, n_instances=4)[0]
        assert (tmp_path / "died").exists()  # a worker did die
        np.testing.assert_array_equal(got, expected)

        always = DyingClassifier(estimator, str(tmp_path / "died"), every_time=True)
        learner = ActiveLearner(estimator=always, query_strategy=UncertaintyQuery(random_state=0))
        # KilledWorker, or the tasks cancelled when the model scattered to the workers
        # died with them: Dask's errors either way
        with pytest.raises((distributed.KilledWorker, FutureCancelledError)):
            learner.query(X_dask, n_instances=4)


def test_bsqkit_works_without_dask():
    """Without Dask installed, bsqkit imports and queries numpy pools as usual."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['distributed'] = None\n"
        "import numpy as np, bsqkit\n"
        "X = np.random.RandomState(0).normal(size=(40, 3))\n"
        "print(bsqkit.BayesianSampleQuery(n_instances=3).query(X[5:], X_labeled=X[:5])[0])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    X = np.random.RandomState(0).normal(size=(40, 3))
    expected = BayesianSampleQuery(n_instances=3).query(X[5:], X_labeled=X[:5])[0]
    assert result.stdout.strip() == str(expected)


@pytest.fixture(scope="module")
def segmenter_pool():
    """A small fitted NeuralNetSegmenter (dropout in the head and in the blocks) and 75
    images of 16 x 16: blocks of 20 straddle its MC batches (8 images)."""
    from bsqkit.nets import NeuralNetSegmenter

    rng = np.random.RandomState(0)
    X = rng.rand(75, 16, 16).astype(np.float32)
    y = (X > 0.6).astype(np.int64) + (X > 0.9)
    models = {}
    for dropout in ("head", "blocks"):
        models[dropout] = NeuralNetSegmenter(
            n_classes=3, max_steps=5, module__width=4, module__depth=2, dropout=dropout,
            inference_batch_size=8, random_state=0, progress_bar=False,
        ).fit(X[:20], y[:20])  # fmt: skip
    return X, models


@pytest.mark.parametrize("dropout", ["head", "blocks"])
def test_mc_dropout_on_dask_equals_in_memory(segmenter_pool, dropout):
    from bsqkit.functional import estimate_uncertainty

    X, models = segmenter_pool
    model = models[dropout]
    whole = estimate_uncertainty(model, X, n_mc=5, random_state=3)
    for start, stop in ((0, 20), (20, 40), (37, 75), (5, 6)):  # edges inside batches
        block = estimate_uncertainty(
            model, X[start:stop], n_mc=5, random_state=3, position=(start, len(X))
        )
        np.testing.assert_allclose(block, whole[start:stop], rtol=1e-5, atol=1e-9)
    X_dask = da.from_array(X, chunks=(20, 16, 16))  # 4 blocks
    for groups in (None, np.arange(len(X)) // 5):
        in_memory = UncertaintyQuery(n_mc=5, random_state=1)
        blocked = UncertaintyQuery(n_mc=5, random_state=1)
        idx, scores = in_memory.query(X, estimator=model, n_instances=4, groups=groups)
        idx_dask, scores_dask = blocked.query(
            X_dask, estimator=model, n_instances=4, groups=groups
        )
        np.testing.assert_array_equal(idx_dask, idx)
        np.testing.assert_allclose(scores_dask, scores, rtol=1e-5)
    bsq_memory = BayesianSampleQuery(encoder=PCA(3), n_uncertain=10, n_mc=5, random_state=2)
    bsq_dask = BayesianSampleQuery(encoder=PCA(3), n_uncertain=10, n_mc=5, random_state=2)
    bsq_memory.fit(X.reshape(len(X), -1))
    bsq_dask.fit(X.reshape(len(X), -1))
    expected = bsq_memory.query(X, estimator=model, X_labeled=X[:20], n_instances=3)
    got = bsq_dask.query(X_dask, estimator=model, X_labeled=X[:20], n_instances=3)
    np.testing.assert_array_equal(got[0], expected[0])


@pytest.mark.slow
def test_mc_dropout_on_a_local_cluster_equals_in_memory(segmenter_pool):
    distributed = pytest.importorskip("distributed")

    X, models = segmenter_pool
    X_dask = da.from_array(X, chunks=(20, 16, 16))
    expected = UncertaintyQuery(n_mc=5, random_state=1).query(
        X, estimator=models["head"], n_instances=5
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        got = UncertaintyQuery(n_mc=5, random_state=1).query(
            X_dask, estimator=models["head"], n_instances=5
        )
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)
