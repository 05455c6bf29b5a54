"""Group queries (volumes, patients) against brute-force recomputations.

Every strategy with 1 and 3 groups per query, unequal group sizes, members scattered
through the pool, string ids, and a group that is partly annotated already.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from bsqkit import (
    ActiveLearner,
    BayesianSampleQuery,
    CoreSetQuery,
    RandomQuery,
    SuggestiveAnnotationQuery,
    UncertaintyQuery,
)
from bsqkit.query import estimate_uncertainty


@pytest.fixture
def grouped(pool_setup):
    """Pool of 360 digits in 16 groups of unequal sizes, scattered; group "g03" is
    partly annotated: 5 of its members sit in the labeled set."""
    X_pool, X_labeled, _, est = pool_setup
    rng = np.random.RandomState(7)
    sizes = np.array([1, 2, 3, 40, 5, 8, 13, 21, 34, 55, 4, 6, 70, 9, 30, 59])
    assert sizes.sum() == len(X_pool)
    ids = np.array([f"g{i:02d}" for i in range(len(sizes))])
    groups = rng.permutation(np.repeat(ids, sizes))
    partly = np.flatnonzero(groups == "g03")[:5]
    X_labeled = np.concatenate([X_labeled, X_pool[partly]])
    labeled_groups = np.concatenate([np.array(["a00"] * 20 + ["a01"] * 20), ["g03"] * 5])
    keep = np.setdiff1d(np.arange(len(X_pool)), partly)
    return X_pool[keep], groups[keep], X_labeled, labeled_groups, est


def _group_ids(groups):
    return list(dict.fromkeys(groups.tolist()))


def _expand(groups, chosen_ids):
    return np.concatenate([np.flatnonzero(groups == g) for g in chosen_ids])


def _aggregate(values, groups, how):
    reduce = {"mean": np.mean, "max": np.max, "sum": np.sum}[how]
    return {g: reduce(values[groups == g]) for g in _group_ids(groups)}


def _ranked(per_group, k):
    # best first; ties by first appearance, as top_k breaks them by the lower index
    order = sorted(per_group, key=lambda g: -per_group[g])
    return order[:k]


def _mc_uncertainty(est, X_pool, random_state, n_mc):
    seed = np.random.RandomState(random_state).randint(2**31 - 1)
    return estimate_uncertainty(est, X_pool, n_mc=n_mc, random_state=seed)


def _check_result(idx, scores, groups, chosen_ids, expected_scores=None):
    np.testing.assert_array_equal(idx, _expand(groups, chosen_ids))
    assert scores.shape == (len(chosen_ids),)
    if expected_scores is not None:
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-9)


@pytest.mark.parametrize(("k", "how"), [(1, "mean"), (3, "mean"), (3, "max"), (3, "sum")])
def test_uncertainty_groups_brute_force(grouped, k, how):
    X_pool, groups, _, _, est = grouped
    strategy = UncertaintyQuery(n_mc=5, group_aggregate=how, random_state=0)
    idx, scores = strategy.query(X_pool, estimator=est, groups=groups, n_instances=k)
    per_group = _aggregate(_mc_uncertainty(est, X_pool, 0, 5), groups, how)
    chosen = _ranked(per_group, k)
    _check_result(idx, scores, groups, chosen, [per_group[g] for g in chosen])


def test_random_groups_are_uniform_over_groups_not_samples(grouped):
    X_pool, groups, *_ = grouped
    counts = dict.fromkeys(_group_ids(groups), 0)
    n_trials = 1600
    for seed in range(n_trials):
        idx, scores = RandomQuery(random_state=seed).query(X_pool, groups=groups)
        (chosen,) = set(groups[idx].tolist())
        _check_result(idx, scores, groups, [chosen])
        counts[chosen] += 1
    # each of the 16 groups: 100 expected picks whatever its size (1 to 70 members);
    # sampling by members would give the one-member group about 4
    freq = np.array(list(counts.values())) / n_trials
    assert np.all(np.abs(freq - 1 / 16) < 0.03), counts


@pytest.mark.parametrize("k", [1, 3])
def test_random_groups_three_distinct_groups(grouped, k):
    X_pool, groups, *_ = grouped
    idx, scores = RandomQuery(random_state=3).query(X_pool, groups=groups, n_instances=k)
    chosen = list(dict.fromkeys(groups[idx].tolist()))
    assert len(chosen) == k
    _check_result(idx, scores, groups, chosen)
    assert np.all(np.diff(scores) <= 0)


def _max_cover_brute(cand, population, k):
    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    cand, population = unit(cand), unit(population)
    chosen, gains = [], []
    for _ in range(k):
        base = np.max(population @ cand[chosen].T, axis=1).sum() if chosen else -len(population)
        best, best_gain = None, -np.inf
        for j in range(len(cand)):
            if j in chosen:
                continue
            value = np.max(population @ cand[[*chosen, j]].T, axis=1).sum()
            if value - base > best_gain + 1e-9:
                best, best_gain = j, value - base
        chosen.append(best)
        gains.append(best_gain)
    return chosen, gains


@pytest.mark.parametrize(("k", "how"), [(1, "mean"), (3, "mean"), (3, "max")])
def test_suggestive_annotation_groups_brute_force(grouped, k, how):
    X_pool, groups, X_labeled, _, est = grouped
    sa = SuggestiveAnnotationQuery(n_uncertain=6, n_mc=5, group_aggregate=how, random_state=2)
    idx, gains = sa.query(X_pool, estimator=est, X_labeled=X_labeled, groups=groups, n_instances=k)
    shortlist = _ranked(_aggregate(_mc_uncertainty(est, X_pool, 2, 5), groups, how), 6)
    desc = est.image_descriptors(X_pool)
    ids = _group_ids(groups)
    means = {g: desc[groups == g].mean(axis=0) for g in ids}
    picks, expected = _max_cover_brute(
        np.array([means[g] for g in shortlist]), np.array([means[g] for g in ids]), k
    )
    chosen = [shortlist[p] for p in picks]
    _check_result(idx, gains, groups, chosen)
    np.testing.assert_allclose(gains, expected, rtol=1e-4)  # float32 similarities


def _bsq_sample_scores(codes, codes_pool_all, codes_annotated):
    # numpy's own moments and scipy's normal cdf: independent of the library's code
    from scipy.stats import norm

    mu_p, s_p = codes_pool_all.mean(axis=0), codes_pool_all.std(axis=0)
    pool = np.log(2 * norm.cdf(-np.abs(codes - mu_p) / s_p)).sum(axis=1)
    if len(codes_annotated) == 0:
        return pool
    mu_a = codes_annotated.mean(axis=0)
    s_a = np.maximum(codes_annotated.std(axis=0), 1e-3 * s_p)
    return pool - np.log(2 * norm.cdf(-np.abs(codes - mu_a) / s_a)).sum(axis=1)


@pytest.mark.parametrize(
    ("k", "how", "n_uncertain"),
    [(1, "mean", None), (3, "mean", None), (3, "max", None), (3, "mean", 8), (3, "sum", 8)],
)
def test_bsq_top_groups_brute_force(grouped, k, how, n_uncertain):
    X_pool, groups, X_labeled, _, est = grouped
    bsq = BayesianSampleQuery(
        encoder=PCA(4), n_uncertain=n_uncertain, n_mc=5, group_aggregate=how, random_state=4
    )
    idx, scores = bsq.query(
        X_pool, estimator=est, X_labeled=X_labeled, groups=groups, n_instances=k
    )
    codes, codes_l = bsq.transform(X_pool), bsq.transform(X_labeled)
    per_sample = _bsq_sample_scores(codes, np.vstack([codes, codes_l]), codes_l)
    per_group = _aggregate(per_sample, groups, how)
    if n_uncertain is not None:
        unc = _aggregate(_mc_uncertainty(est, X_pool, 4, 5), groups, how)
        shortlist = set(_ranked(unc, n_uncertain))
        per_group = {g: v for g, v in per_group.items() if g in shortlist}
    chosen = _ranked(per_group, k)
    _check_result(idx, scores, groups, chosen, [per_group[g] for g in chosen])


@pytest.mark.parametrize(
    ("k", "how", "n_uncertain"), [(1, "mean", None), (3, "mean", None), (3, "max", 8)]
)
def test_bsq_greedy_groups_brute_force(grouped, k, how, n_uncertain):
    X_pool, groups, X_labeled, _, est = grouped
    bsq = BayesianSampleQuery(
        encoder=PCA(4),
        n_uncertain=n_uncertain,
        batch_mode="greedy",
        n_mc=5,
        group_aggregate=how,
        random_state=5,
    )
    idx, scores = bsq.query(
        X_pool, estimator=est, X_labeled=X_labeled, groups=groups, n_instances=k
    )
    codes, codes_l = bsq.transform(X_pool), bsq.transform(X_labeled)
    open_groups = _group_ids(groups)
    if n_uncertain is not None:
        unc = _aggregate(_mc_uncertainty(est, X_pool, 5, 5), groups, how)
        open_groups = [g for g in open_groups if g in set(_ranked(unc, n_uncertain))]
    annotated, chosen, expected = codes_l, [], []
    for _ in range(k):
        per_sample = _bsq_sample_scores(codes, np.vstack([codes, codes_l]), annotated)
        per_group = {
            g: v for g, v in _aggregate(per_sample, groups, how).items() if g in open_groups
        }
        best = _ranked(per_group, 1)[0]
        chosen.append(best)
        expected.append(per_group[best])
        open_groups.remove(best)
        # the chosen group joins the annotated Gaussian before the next pick
        annotated = np.vstack([annotated, codes[groups == best]])
    _check_result(idx, scores, groups, chosen, expected)


def _k_center_brute(points, centers, k):
    chosen, dists = [], []
    centers = list(centers)
    for _ in range(k):
        best, best_d = None, -1.0
        for j, p in enumerate(points):
            if j in chosen:
                continue
            d = min(np.linalg.norm(p - c) for c in centers)
            if d > best_d + 1e-12:
                best, best_d = j, d
        chosen.append(best)
        dists.append(best_d)
        centers.append(points[best])
    return chosen, dists


@pytest.mark.parametrize(("k", "with_labeled_groups"), [(1, True), (3, True), (3, False)])
def test_coreset_groups_brute_force(grouped, k, with_labeled_groups):
    X_pool, groups, X_labeled, labeled_groups, _ = grouped
    cs = CoreSetQuery(encoder=PCA(4), random_state=0)
    idx, dist = cs.query(
        X_pool,
        X_labeled=X_labeled,
        groups=groups,
        labeled_groups=labeled_groups if with_labeled_groups else None,
        n_instances=k,
    )
    codes, codes_l = cs.transform(X_pool), cs.transform(X_labeled)
    ids = _group_ids(groups)
    means = np.array([codes[groups == g].mean(axis=0) for g in ids])
    if with_labeled_groups:
        # the partly annotated g03 has a center at its 5 annotated members' mean
        centers = [codes_l[labeled_groups == g].mean(axis=0) for g in _group_ids(labeled_groups)]
    else:
        centers = list(codes_l)
    picks, expected = _k_center_brute(means, centers, k)
    _check_result(idx, dist, groups, [ids[p] for p in picks], expected)


def test_partly_annotated_group_returns_only_its_pool_members(grouped):
    X_pool, groups, *_ = grouped
    # g03 has 35 members left in the pool, 5 annotated: all and only the 35 come back
    for seed in range(20):
        idx, _ = RandomQuery(random_state=seed).query(X_pool, groups=groups)
        if groups[idx[0]] == "g03":
            assert len(idx) == 35
            np.testing.assert_array_equal(idx, np.flatnonzero(groups == "g03"))
            break
    else:
        pytest.fail("g03 never drawn in 20 seeds")


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomQuery(random_state=0),
        lambda: UncertaintyQuery(n_mc=3, random_state=0),
        lambda: SuggestiveAnnotationQuery(n_uncertain=8, n_mc=3, random_state=0),
        lambda: BayesianSampleQuery(encoder=PCA(3), n_uncertain=8, n_mc=3, random_state=0),
        lambda: BayesianSampleQuery(encoder=PCA(3), batch_mode="greedy", random_state=0),
        lambda: CoreSetQuery(encoder=PCA(3), random_state=0),
    ],
)
def test_singleton_groups_equal_a_plain_query(pool_setup, make):
    X_pool, X_labeled, _, est = pool_setup
    plain = make().query(X_pool, estimator=est, X_labeled=X_labeled, n_instances=5)
    grouped = make().query(
        X_pool,
        estimator=est,
        X_labeled=X_labeled,
        n_instances=5,
        groups=np.arange(len(X_pool))[::-1] * 10,  # any ids, one per sample
    )
    np.testing.assert_array_equal(plain[0], grouped[0])
    np.testing.assert_allclose(plain[1], grouped[1])


def test_group_query_bad_input(grouped):
    X_pool, groups, X_labeled, labeled_groups, _ = grouped
    with pytest.raises(ValueError, match="groups has 10 entries but X_pool has"):
        RandomQuery().query(X_pool, groups=groups[:10])
    with pytest.raises(ValueError, match="groups must have shape"):
        RandomQuery().query(X_pool, groups=groups.reshape(-1, 1))
    with pytest.raises(ValueError, match=r"n_instances \(a number of groups\)=17 is larger"):
        RandomQuery().query(X_pool, groups=groups, n_instances=17)
    with pytest.raises(ValueError, match="NaN"):
        RandomQuery().query(X_pool, groups=np.full(len(X_pool), np.nan))
    with pytest.raises(ValueError, match=r"labeled_groups must have shape \(45,\)"):
        CoreSetQuery().query(
            X_pool, X_labeled=X_labeled, groups=groups, labeled_groups=labeled_groups[:3]
        )
    with pytest.raises(ValueError, match="labeled_groups needs groups"):
        CoreSetQuery().query(X_pool, X_labeled=X_labeled, labeled_groups=labeled_groups)


def test_custom_strategy_without_group_support_says_so(pool_setup):
    from bsqkit import QueryStrategy

    class First(QueryStrategy):
        def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng):
            return np.arange(n_instances), np.zeros(n_instances)

    X_pool = pool_setup[0]
    assert First().query(X_pool)[0].tolist() == [0]
    with pytest.raises(TypeError, match="does not support group queries"):
        First().query(X_pool, groups=np.zeros(len(X_pool)))


def test_active_learner_group_query_rounds(grouped, digits):
    from tests.conftest import ToyMCClassifier

    X_pool, groups, X_labeled, _, _ = grouped
    _, y = digits
    y_labeled = np.resize(y, len(X_labeled))
    y_pool = np.resize(y[::-1], len(X_pool))
    learner = ActiveLearner(
        ToyMCClassifier(),
        UncertaintyQuery(n_mc=3, random_state=0),
        X_training=X_labeled,
        y_training=y_labeled,
    )
    seen = set()
    for _ in range(2):
        idx, X_query = learner.query(X_pool, n_instances=2, groups=groups)
        chosen = set(groups[idx].tolist())
        assert len(chosen) == 2 and not chosen & seen
        assert len(idx) == sum((groups == g).sum() for g in chosen)  # whole groups
        np.testing.assert_array_equal(X_query, X_pool[idx])
        seen |= chosen
        learner.teach(X_query, y_pool[idx])
        keep = np.setdiff1d(np.arange(len(X_pool)), idx)
        X_pool, groups, y_pool = X_pool[keep], groups[keep], y_pool[keep]


def test_group_ids_of_any_hashable_type(pool_setup):
    X_pool = pool_setup[0][:12]
    mixed = np.empty(12, dtype=object)
    mixed[:] = [(1, "x")] * 4 + [("p", 1)] * 4 + [None] * 4
    for ids in (np.repeat([3, 1, 2], 4), np.repeat(["b", "a", "c"], 4), mixed):
        idx, scores = RandomQuery(random_state=0).query(X_pool, groups=ids, n_instances=3)
        assert sorted(idx.tolist()) == list(range(12)) and scores.shape == (3,)


@pytest.mark.parametrize("mode", ["top", "greedy"])
def test_bsq_groups_without_annotated_set_brute_force(grouped, mode):
    X_pool, groups, *_ = grouped
    bsq = BayesianSampleQuery(encoder=PCA(4), batch_mode=mode, random_state=0)
    idx, scores = bsq.query(X_pool, groups=groups, n_instances=3)
    codes = bsq.transform(X_pool)
    annotated, chosen, expected = codes[:0], [], []
    open_groups = _group_ids(groups)
    for _ in range(3 if mode == "greedy" else 1):
        per_group = _aggregate(_bsq_sample_scores(codes, codes, annotated), groups, "mean")
        per_group = {g: v for g, v in per_group.items() if g in open_groups}
        picks = _ranked(per_group, 1 if mode == "greedy" else 3)
        chosen += picks
        expected += [per_group[g] for g in picks]
        open_groups = [g for g in open_groups if g not in picks]
        annotated = np.vstack([annotated, *(codes[groups == g] for g in picks)])
    _check_result(idx, scores, groups, chosen, expected)


def test_group_ids_from_lists_keep_their_identity(pool_setup):
    X_pool = pool_setup[0][:6]
    # 1 and "1" are two groups; tuples are ids, not rows
    idx, _ = RandomQuery(random_state=0).query(
        X_pool, groups=[1, "1", 1, "1", (2, 3), (2, 3)], n_instances=3
    )
    assert sorted(idx.tolist()) == list(range(6))
    from bsqkit.functional import encode_groups

    codes, ids = encode_groups([1, "1", (2, 3), 1])
    assert codes.tolist() == [0, 1, 2, 0] and len(ids) == 3
    with pytest.raises(TypeError, match="hashable"):
        encode_groups([[1], [2], {}])
    with pytest.raises(TypeError, match="labeled_groups holds ids of type"):
        CoreSetQuery().query(
            X_pool, X_labeled=X_pool[:2], groups=[0, 0, 1, 1, 2, 2], labeled_groups=["0", "1"]
        )
