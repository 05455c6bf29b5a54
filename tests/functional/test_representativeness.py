import math

import numpy as np
import pytest

from bsqkit.functional import (
    bsq_scores,
    fit_diagonal_gaussian,
    greedy_bsq_selection,
    log_tail_likelihood,
)


def _two_sided_tail(z, mu, sigma):
    # 1 + erf(-|z - mu| / (sigma sqrt 2)) = erfc(|z - mu| / (sigma sqrt 2)), paper Eq. 8
    return math.erfc(abs(z - mu) / (sigma * math.sqrt(2)))


@pytest.mark.parametrize("z", [-3.0, -1.0, 0.0, 0.5, 1.0, 2.5])
def test_bsq_score_matches_hand_computation_on_paper_fig1(z):
    # Fig. 1: pool N(0, 1), annotated N(-1, 1.5)
    expected = math.log(_two_sided_tail(z, 0.0, 1.0)) - math.log(_two_sided_tail(z, -1.0, 1.5))
    got = bsq_scores([[z]], [0.0], [1.0], [-1.0], [1.5])
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, rel=1e-12)


def test_fig1_prefers_the_side_the_annotated_set_misses():
    z = np.linspace(-3, 3, 601)[:, None]
    scores = bsq_scores(z, [0.0], [1.0], [-1.0], [1.5])
    # the annotated set sits left of the pool: the under-represented right side scores higher
    assert scores[z[:, 0] == 1.5] > scores[np.isclose(z[:, 0], -1.5)]
    assert z[np.argmax(scores), 0] > 0


def test_hand_value_at_one():
    # log(erfc(1/sqrt2)) - log(erfc((2/1.5)/sqrt2)) = log(0.317311) - log(0.182422)
    assert bsq_scores([[1.0]], [0.0], [1.0], [-1.0], [1.5])[0] == pytest.approx(
        math.log(0.3173105078629141) - math.log(0.18242243945173575), rel=1e-9
    )


def test_sum_of_logs_does_not_underflow_in_200_dimensions():
    rng = np.random.RandomState(0)
    codes = rng.normal(size=(5, 200)) + 3.0
    scores = bsq_scores(codes, np.zeros(200), np.ones(200), np.zeros(200), np.full(200, 0.5))
    assert np.isfinite(scores).all()
    # the product of 200 tail probabilities is 0 in float64; the log sum is not
    assert np.prod(np.exp(log_tail_likelihood(codes, np.zeros(200), np.ones(200)))) == 0.0


def test_tail_likelihood_is_finite_and_asymptotic_at_50_sigma():
    x = 50.0
    value = log_tail_likelihood([[x]], [0.0], [1.0])[0, 0]
    asymptote = -(x**2) / 2 - math.log(x) - 0.5 * math.log(2 * math.pi) + math.log(2)
    assert np.isfinite(value)
    assert value == pytest.approx(asymptote, rel=1e-3)
    assert math.erfc(x / math.sqrt(2)) == 0.0  # the naive formula gives log(0)


def test_fit_diagonal_gaussian_floors_a_single_code():
    mu, sigma = fit_diagonal_gaussian([[1.0, 2.0]], sigma_floor=0.1)
    np.testing.assert_allclose(mu, [1.0, 2.0])
    np.testing.assert_allclose(sigma, [0.1, 0.1])
    with pytest.raises(ValueError, match="codes"):
        fit_diagonal_gaussian(np.empty((0, 3)))


def test_zero_sigma_is_rejected():
    with pytest.raises(ValueError, match="sigma"):
        log_tail_likelihood([[0.0]], [0.0], [0.0])


def test_greedy_first_pick_is_the_top_score_and_later_picks_refit():
    rng = np.random.RandomState(1)
    codes = rng.normal(size=(50, 3))
    annotated = rng.normal(size=(5, 3)) - 1.0
    mu_p, sigma_p = fit_diagonal_gaussian(np.vstack([annotated, codes]))
    mu_a, sigma_a = fit_diagonal_gaussian(annotated)
    top = bsq_scores(codes, mu_p, sigma_p, mu_a, sigma_a)
    idx, scores = greedy_bsq_selection(codes, annotated, mu_p, sigma_p, 4)
    assert idx[0] == np.argmax(top)
    assert scores[0] == pytest.approx(top.max())
    assert len(set(idx.tolist())) == 4
    # second pick: scored against the annotated set plus the first pick
    mu2, sigma2 = fit_diagonal_gaussian(np.vstack([annotated, codes[idx[:1]]]))
    second = bsq_scores(codes, mu_p, sigma_p, mu2, sigma2)
    second[idx[0]] = -np.inf
    assert idx[1] == np.argmax(second)
    assert scores[1] == pytest.approx(second.max())


def test_greedy_from_an_empty_annotated_set_brute_force():
    rng = np.random.RandomState(2)
    codes = rng.normal(size=(8, 2))
    mu_p, sigma_p = fit_diagonal_gaussian(codes)
    floor = 1e-3 * sigma_p
    idx, _ = greedy_bsq_selection(codes, np.empty((0, 2)), mu_p, sigma_p, 3, relative_floor=1e-3)
    chosen: list[int] = []
    for _ in range(3):
        best, best_score = None, -np.inf
        for j in range(8):
            if j in chosen:
                continue
            pool = log_tail_likelihood(codes[j : j + 1], mu_p, sigma_p).sum()
            if chosen:
                mu_a, sigma_a = fit_diagonal_gaussian(codes[chosen], sigma_floor=floor)
                pool -= log_tail_likelihood(codes[j : j + 1], mu_a, sigma_a).sum()
            if pool > best_score:
                best, best_score = j, pool
        chosen.append(best)
    assert idx.tolist() == chosen


def test_chunked_sum_equals_the_plain_sum():
    from bsqkit.functional import summed_log_tail_likelihood

    rng = np.random.RandomState(4)
    codes = rng.normal(size=(1001, 7)) * 5
    mu, sigma = rng.normal(size=7), rng.uniform(0.1, 2, size=7)
    expected = log_tail_likelihood(codes, mu, sigma).sum(axis=1)
    for chunk in (None, 1, 100, 5000):
        got = summed_log_tail_likelihood(codes, mu, sigma, chunk_size=chunk)
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_gaussian_of_parts_equals_gaussian_of_the_stack():
    rng = np.random.RandomState(5)
    a, b = rng.normal(3, 2, size=(7, 4)), rng.normal(-1, 0.5, size=(50, 4))
    mu, sigma = fit_diagonal_gaussian(a, b)
    stacked = np.vstack([a, b])
    np.testing.assert_allclose(mu, stacked.mean(axis=0))
    np.testing.assert_allclose(sigma, stacked.std(axis=0))
    with pytest.raises(ValueError, match="codes"):
        fit_diagonal_gaussian(np.ones((2, 3)), np.ones((2, 4)))


def test_bsq_gaussians_floors():
    from bsqkit.functional import fit_bsq_gaussians

    pool = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])  # second dimension constant
    mu_p, s_p, mu_a, s_a = fit_bsq_gaussians([pool[:1], pool[1:]], pool[:1], 0.01)
    np.testing.assert_allclose(mu_a, pool[0])
    np.testing.assert_allclose(mu_p, [2.0, 1.0])
    # a constant dimension is infinitely wide: it adds 0 to every score
    assert s_p[0] == pytest.approx(np.sqrt(8 / 3)) and s_p[1] == np.inf
    np.testing.assert_allclose(s_a, 0.01 * s_p)  # one annotated code: the floor
    assert fit_bsq_gaussians([pool], None)[2:] == (None, None)


# -- numerical robustness ------------------------------------------------------------


def _select(codes, annotated, mode, n=10):
    from bsqkit.functional import bsq_scores, fit_bsq_gaussians, top_k

    mu_p, s_p, mu_a, s_a = fit_bsq_gaussians([codes, annotated], annotated)
    if mode == "greedy":
        return greedy_bsq_selection(codes, annotated, mu_p, s_p, n)
    scores = bsq_scores(codes, mu_p, s_p, mu_a, s_a)
    idx = top_k(scores, n)
    return idx, scores[idx]


@pytest.mark.parametrize("mode", ["top", "greedy"])
@pytest.mark.parametrize(
    ("shift", "scale"),
    [(1e5, 1.0), (1e7, 1.0), (0.0, 1e-5), (0.0, 1e154), (0.0, 1e200), (-3e6, 1e3)],
)
def test_selection_invariant_to_shifting_and_scaling_the_codes(mode, shift, scale):
    rng = np.random.RandomState(0)
    codes, annotated = rng.normal(size=(300, 6)), rng.normal(0.5, 0.7, size=(12, 6))
    idx, scores = _select(codes, annotated, mode, n=50)
    idx2, scores2 = _select(codes * scale + shift, annotated * scale + shift, mode, n=50)
    assert len(set(idx2.tolist())) == 50  # never a duplicate
    np.testing.assert_array_equal(idx2, idx)
    np.testing.assert_allclose(scores2, scores, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["top", "greedy"])
@pytest.mark.parametrize("value", [0.0, 1.0, -7.3, 1e5])
def test_a_constant_dimension_adds_zero(mode, value):
    rng = np.random.RandomState(1)
    codes, annotated = rng.normal(size=(100, 3)), rng.normal(size=(6, 3))
    with_const = [np.insert(a, 1, value, axis=1) for a in (codes, annotated)]
    idx, scores = _select(codes, annotated, mode)
    idx2, scores2 = _select(*with_const, mode)
    np.testing.assert_array_equal(idx2, idx)
    np.testing.assert_allclose(scores2, scores, atol=1e-9)


@pytest.mark.parametrize("n_annotated", [0, 1])
def test_greedy_default_floor_accepts_empty_and_single_annotated_sets(n_annotated):
    codes = np.random.RandomState(3).normal(size=(30, 4))
    mu, sigma = fit_diagonal_gaussian(codes)
    idx, scores = greedy_bsq_selection(codes[5:], codes[:n_annotated], mu, sigma, n_select=6)
    assert len(set(idx.tolist())) == 6 and np.isfinite(scores).all()


def test_gaussian_of_huge_codes_is_finite_and_overflowing_ones_are_refused():
    rng = np.random.RandomState(4)
    codes = rng.normal(size=(50, 3))
    _, sigma = fit_diagonal_gaussian(codes * 1e200)
    np.testing.assert_allclose(sigma / 1e200, codes.std(axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="too large"):
        fit_diagonal_gaussian(np.full((4, 2), 1.7e308) * np.array([[1], [1], [-1], [1]]))


def test_greedy_rejects_malformed_annotated_codes_and_groups():
    codes = np.random.RandomState(0).normal(size=(8, 2))
    mu, sigma = fit_diagonal_gaussian(codes)
    with pytest.raises(ValueError, match=r"codes_annotated must have shape \(n_annotated, 2\)"):
        greedy_bsq_selection(codes, np.zeros((4, 3)), mu, sigma, 2)
    with pytest.raises(ValueError, match=r"0 \.\. n_groups - 1"):
        greedy_bsq_selection(codes, codes[:0], mu, sigma, 2, groups=[0, 0, 2, 2, 3, 3, 4, 4])
    with pytest.raises(ValueError, match="integers"):
        greedy_bsq_selection(codes, codes[:0], mu, sigma, 2, groups=np.zeros(8) + 0.5)


def test_gaussian_of_codes_near_the_float_limit():
    codes = np.full((1000, 2), 1e307) * np.array([1.0, -1.0])
    mu, _ = fit_diagonal_gaussian(codes)
    np.testing.assert_allclose(mu, [1e307, -1e307])


# -- greedy with pruning against rescoring every candidate at every pick -------------


def _greedy_by_full_rescoring(codes, annotated, mu, sigma, n, floor=1e-3, groups=None, how="mean"):
    """The definition: after each pick, refit the annotated Gaussian and rescore all."""
    from bsqkit.functional import aggregate_by_group, summed_log_tail_likelihood

    u = (np.asarray(codes, np.float64) - mu) / sigma
    u_annotated = (np.asarray(annotated, np.float64) - mu) / sigma
    d = u.shape[1]
    pool_term = summed_log_tail_likelihood(u, np.zeros(d), np.ones(d))
    group_of = np.arange(len(u)) if groups is None else np.asarray(groups)
    n_units = group_of.max() + 1
    chosen, picks, scores = [], [], []
    for _ in range(n):
        taken = np.concatenate([u_annotated, u[np.isin(group_of, chosen)]])
        utility = pool_term.copy()
        if len(taken):
            spread = np.maximum(taken.std(axis=0), floor)
            utility -= summed_log_tail_likelihood(u, taken.mean(axis=0), spread)
        unit = aggregate_by_group(utility, group_of, n_units, how)
        unit[chosen] = -np.inf
        best = int(np.argmax(unit))
        chosen.append(best)
        picks.append(best)
        scores.append(unit[best])
    return np.array(picks), np.array(scores)


@pytest.mark.parametrize("n_annotated", [0, 1, 40])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [2, 16])
def test_pruned_greedy_picks_what_full_rescoring_picks(n_annotated, dtype, d):
    rng = np.random.RandomState(d + n_annotated)
    # a pool with structure: a few clusters of different sizes and spreads
    centers = rng.normal(scale=3.0, size=(5, d))
    codes = (centers[rng.randint(5, size=3000)] + rng.gamma(1.0, size=(3000, d))).astype(dtype)
    annotated = codes[:n_annotated]
    mu, sigma = fit_diagonal_gaussian(codes, annotated)
    idx, scores = greedy_bsq_selection(codes, annotated, mu, sigma, 40)
    ref_idx, ref_scores = _greedy_by_full_rescoring(codes, annotated, mu, sigma, 40)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("how", ["mean", "max", "sum"])
def test_pruned_greedy_on_groups_of_unequal_size(how):
    rng = np.random.RandomState(7)
    codes = rng.normal(size=(1200, 8)) * rng.uniform(0.5, 2.0, size=8)
    groups = np.sort(rng.randint(0, 150, size=1200))
    groups = np.unique(groups, return_inverse=True)[1]  # every group used
    rng.shuffle(groups)  # members scattered over the pool
    annotated = rng.normal(0.3, 0.8, size=(20, 8))
    mu, sigma = fit_diagonal_gaussian(codes, annotated)
    got = greedy_bsq_selection(codes, annotated, mu, sigma, 12, groups=groups, group_aggregate=how)
    ref = _greedy_by_full_rescoring(codes, annotated, mu, sigma, 12, groups=groups, how=how)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-9, atol=1e-9)


def test_pruned_greedy_rescores_a_small_part_of_the_pool(monkeypatch):
    from bsqkit.functional import greedy_bsq

    rows_scored = []
    original = greedy_bsq.standardised_pass

    def counting(codes, rows, *args, **kwargs):
        rows_scored.append(len(codes) if rows is None else len(rows))
        return original(codes, rows, *args, **kwargs)

    monkeypatch.setattr(greedy_bsq, "standardised_pass", counting)
    rng = np.random.RandomState(0)
    codes = rng.normal(size=(50_000, 32)).astype(np.float32)
    unlike_the_pool = rng.normal(0.2, 0.9, size=(100, 32))
    sample_of_the_pool = codes[:100].astype(np.float64)  # scores close together
    for annotated in (unlike_the_pool, sample_of_the_pool):
        rows_scored.clear()
        mu, sigma = fit_diagonal_gaussian(codes, annotated)
        greedy_bsq_selection(codes, annotated, mu, sigma, 32)
        # the pool term, a full pass every ten picks or so and a few rows per pick: less
        # than a sixth of the 33 full passes of rescoring everything (before the bound
        # kept the signs of the moves: 8.4 and 15.4 passes)
        assert sum(rows_scored) < 5.5 * len(codes), rows_scored


@pytest.mark.parametrize("move", [0.003, 0.03, 0.3, 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_change_bound_holds_for_every_row(move, dtype):
    """The greedy's pruning bound: no row's score grows more than it says, for small and
    large moves of the annotated Gaussian (signs that flip included), with part of the
    rows rescored (and so bounded) under an intermediate Gaussian; and at small moves
    it is far tighter than the same bound blind to the signs of the moves."""
    from scipy.special import log_ndtr

    from bsqkit.functional.greedy_bsq import ChangeBound, _tail_slope, standardised_pass

    rng = np.random.RandomState(int(move * 1000))
    d = 24
    codes = (rng.standard_t(4, size=(3000, d)) * rng.uniform(0.5, 3, d)).astype(dtype)
    codes[:5, :3] = 0.0  # rows at the annotated mean
    mu, sigma = fit_diagonal_gaussian(codes)

    def moved(mean, sigma_a):
        return mean + rng.normal(0, move, d), sigma_a * np.exp(rng.normal(0, move / 3, d))

    mean_ref, sigma_ref = rng.normal(0, 0.5, d), rng.uniform(0.3, 1.5, d)
    bound = ChangeBound(len(codes), d)
    bound.begin(mean_ref, sigma_ref, None)
    # scores are the pool term minus the annotated term: growth is the latter's fall
    annotated_ref = standardised_pass(codes, None, mu, sigma, mean_ref, sigma_ref, bound)
    bound.end()
    for trial in range(6):
        mean_a, sigma_a = moved(mean_ref, sigma_ref)
        if trial >= 3:  # some rows rescored under an intermediate Gaussian
            mean_mid, sigma_mid = moved(mean_ref, sigma_ref)
            rows = np.sort(rng.choice(len(codes), 500, replace=False))
            bound.begin(mean_mid, sigma_mid, rows)
            annotated_ref[rows] = standardised_pass(
                codes, rows, mu, sigma, mean_mid, sigma_mid, bound
            )
            bound.end()
        annotated = standardised_pass(codes, None, mu, sigma, mean_a, sigma_a)
        growth = annotated_ref - annotated
        bounded = bound.growth(mean_a, sigma_a, -annotated_ref)
        assert np.all(bounded >= growth), (trial, np.min(bounded - growth))
        if move <= 0.03 and trial < 3:
            # the same first-order bound with |h| for every sign: f'(x) ((r-1) x + |h|)
            x = np.abs((codes - mu) / sigma - mean_ref) / sigma_ref
            slope = _tail_slope(x, log_ndtr(-x))
            r, h = sigma_ref / sigma_a, (mean_a - mean_ref) / sigma_a
            unsigned = (slope * x) @ (r - 1) + slope @ np.abs(h)
            assert np.median(bounded - growth) < 0.5 * np.median(unsigned - growth)
