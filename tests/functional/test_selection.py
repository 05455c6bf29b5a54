import itertools

import numpy as np
import pytest
import torch

from bsqkit.functional import greedy_max_cover, k_center_greedy, top_k


def test_top_k_order_ties_and_bounds():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    assert top_k(scores, 3).tolist() == [1, 3, 2]
    assert top_k(scores, 5).tolist() == [1, 3, 2, 4, 0]
    with pytest.raises(ValueError, match="k must be"):
        top_k(scores, 0)
    with pytest.raises(ValueError, match="k must be"):
        top_k(scores, 6)


def test_top_k_ties_at_the_kth_place_go_to_the_lower_index():
    """The first k of a stable sort by decreasing score, whatever argpartition does."""
    assert top_k([0.5, 0.9, 0.5, 0.5], 2).tolist() == [1, 0]
    rng = np.random.RandomState(0)
    for _ in range(200):
        scores = rng.randint(0, 4, size=rng.randint(2, 60)).astype(float)
        k = rng.randint(1, len(scores) + 1)
        expected = np.argsort(-scores, kind="stable")[:k]
        assert top_k(scores, k).tolist() == expected.tolist()


def _cover(sim_rows):
    return np.max(sim_rows, axis=0).sum() if len(sim_rows) else -float(sim_rows.shape[1])


def _cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def test_greedy_max_cover_matches_brute_force_greedy_and_is_near_optimal():
    rng = np.random.RandomState(0)
    population = rng.normal(size=(30, 4))
    candidates = population[:9]
    sim = _cosine(candidates, population)
    idx, gains = greedy_max_cover(candidates, population, 3)
    # brute-force greedy: evaluate F(S + c) for every c
    chosen: list[int] = []
    for step in range(3):
        values = {c: np.max(sim[[*chosen, c]], axis=0).sum() for c in range(9) if c not in chosen}
        best = max(values, key=values.get)
        before = np.max(sim[chosen], axis=0).sum() if chosen else -30.0
        assert gains[step] == pytest.approx(values[best] - before, rel=1e-5)
        chosen.append(best)
    assert idx.tolist() == chosen
    assert np.all(np.diff(gains) <= 1e-6)
    # greedy is within (1 - 1/e) of the exhaustive optimum (shifted to a nonnegative F)
    optimum = max(np.max(sim[list(s)], axis=0).sum() for s in itertools.combinations(range(9), 3))
    achieved = np.max(sim[chosen], axis=0).sum()
    assert achieved + 30 >= (1 - 1 / np.e) * (optimum + 30)


def _plain_greedy_max_cover(candidates, population, n_select):
    sim = _cosine(candidates, population)
    cover = np.full(len(population), -1.0)
    picks = []
    for _ in range(n_select):
        gain = np.maximum(sim - cover, 0).sum(axis=1)
        gain[picks] = -np.inf
        picks.append(int(np.argmax(gain)))
        cover = np.maximum(cover, sim[picks[-1]])
    return picks


def test_lazy_max_cover_picks_what_plain_greedy_picks():
    # the lazy evaluation (old gains as bounds) must not change a pick: the plain greedy
    # re-evaluates every candidate at every step, in float64; duplicated candidates make
    # exact ties, which go to the lower index
    rng = np.random.RandomState(3)
    population = rng.normal(size=(500, 6)) + rng.normal(size=(1, 6))
    candidates = np.concatenate([population[:50], population[:14]])  # 14 duplicates
    expected = _plain_greedy_max_cover(candidates, population, 40)
    idx, gains = greedy_max_cover(candidates, population, 40, device=torch.device("cpu"))
    assert idx.tolist() == expected
    assert all(i < 50 for i in idx)  # a duplicate never beats its lower-index original
    assert np.all(np.diff(gains) <= 1e-6)


@pytest.mark.parametrize("n_cand", [1, 3, 7, 9])
def test_lazy_max_cover_on_a_large_population_every_candidate_picked(n_cand):
    # a population large enough for torch to split each row's sum across threads; the
    # duplicates (exact ties) sit on both sides of an evaluation batch's edge; every
    # candidate is picked in the end
    rng = np.random.RandomState(n_cand)
    population = rng.normal(size=(40_000, 5))
    originals = population[: (n_cand + 1) // 2]
    candidates = np.concatenate([originals, originals])[:n_cand]
    expected = _plain_greedy_max_cover(candidates, population, n_cand)
    idx, gains = greedy_max_cover(candidates, population, n_cand)
    assert sorted(idx.tolist()) == list(range(n_cand))
    assert idx[: len(originals)].tolist() == expected[: len(originals)]
    # once its original is picked a duplicate gains nothing, up to the rounding of the
    # similarity product (identical rows may round differently in their last bit)
    assert np.all(np.abs(gains[len(originals) :]) < 1e-3)
    assert np.all(gains[: len(originals)] > 1.0)


def test_greedy_max_cover_zero_descriptor_is_finite():
    cand = np.array([[0.0, 0.0], [1.0, 0.0]])
    idx, gains = greedy_max_cover(cand, cand, 2)
    assert np.isfinite(gains).all()
    assert idx[0] == 1


def test_greedy_max_cover_rejects_mismatched_features():
    with pytest.raises(ValueError, match="same number of features"):
        greedy_max_cover(np.ones((2, 3)), np.ones((4, 2)), 1)


def test_k_center_matches_brute_force():
    rng = np.random.RandomState(3)
    cand = rng.normal(size=(40, 3))
    centers = rng.normal(size=(5, 3))
    idx, dist = k_center_greedy(cand, centers, 6)
    chosen: list[int] = []
    current = list(centers)
    for step in range(6):
        d = np.array(
            [
                min(np.linalg.norm(c - z) for z in current) if i not in chosen else -1
                for i, c in enumerate(cand)
            ]
        )
        best = int(np.argmax(d))
        assert dist[step] == pytest.approx(d[best])
        chosen.append(best)
        current.append(cand[best])
    assert idx.tolist() == chosen


def test_k_center_input_checks_and_views():
    rng = np.random.RandomState(5)
    cand, centers = rng.normal(size=(30, 3)), rng.normal(size=(4, 3))
    expected = k_center_greedy(cand, centers, 5)
    reversed_view = np.flipud(cand[::-1].copy())  # the same rows, negative strides
    read_only = cand.copy()
    read_only.flags.writeable = False
    for view in (reversed_view, read_only):
        idx, dist = k_center_greedy(view, centers, 5)
        np.testing.assert_array_equal(idx, expected[0])
        np.testing.assert_array_equal(dist, expected[1])
    with pytest.raises(ValueError, match="centers must have 3 features"):
        k_center_greedy(cand, centers[:, :2], 2)


def test_k_center_without_centers_starts_at_random_reproducibly():
    cand = np.random.RandomState(0).normal(size=(20, 2))
    a = k_center_greedy(cand, None, 3, random_state=np.random.RandomState(7))
    b = k_center_greedy(cand, None, 3, random_state=np.random.RandomState(7))
    np.testing.assert_array_equal(a[0], b[0])
    assert np.isinf(a[1][0]) and np.isfinite(a[1][1:]).all()


@pytest.mark.parametrize("scale", [1e-30, 1e-23, 1.0, 1e19, 1e25, 1e200])
def test_greedy_max_cover_keeps_directions_of_extreme_descriptors(scale):
    rng = np.random.RandomState(0)
    population = rng.normal(size=(40, 5))
    cand = population[:12]
    expected = greedy_max_cover(cand, population, 4)
    got = greedy_max_cover(cand * scale, population * scale, 4)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)
