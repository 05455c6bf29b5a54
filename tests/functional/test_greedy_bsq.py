"""Greedy BSQ (``bsqkit.functional.greedy_bsq``): its picks against the definition
(rescoring every candidate after every pick) and its pruning bound, step by step as
docs/user_guide/greedy_bound.rst derives it."""

import numpy as np
import pytest

from bsqkit.functional import (
    bsq_scores,
    fit_diagonal_gaussian,
    greedy_bsq_selection,
    log_tail_likelihood,
)


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
                mu_a, sigma_a = fit_diagonal_gaussian(codes[chosen], min_sigma=floor)
                pool -= log_tail_likelihood(codes[j : j + 1], mu_a, sigma_a).sum()
            if pool > best_score:
                best, best_score = j, pool
        chosen.append(best)
    assert idx.tolist() == chosen


@pytest.mark.parametrize("n_annotated", [0, 1])
def test_greedy_default_floor_accepts_empty_and_single_annotated_sets(n_annotated):
    codes = np.random.RandomState(3).normal(size=(30, 4))
    mu, sigma = fit_diagonal_gaussian(codes)
    idx, scores = greedy_bsq_selection(codes[5:], codes[:n_annotated], mu, sigma, n_select=6)
    assert len(set(idx.tolist())) == 6 and np.isfinite(scores).all()


def test_greedy_rejects_malformed_annotated_codes_and_groups():
    codes = np.random.RandomState(0).normal(size=(8, 2))
    mu, sigma = fit_diagonal_gaussian(codes)
    with pytest.raises(ValueError, match=r"codes_labeled must have shape \(n_labeled, 2\)"):
        greedy_bsq_selection(codes, np.zeros((4, 3)), mu, sigma, 2)
    with pytest.raises(ValueError, match=r"0 \.\. n_groups - 1"):
        greedy_bsq_selection(codes, codes[:0], mu, sigma, 2, groups=[0, 0, 2, 2, 3, 3, 4, 4])
    with pytest.raises(ValueError, match="integers"):
        greedy_bsq_selection(codes, codes[:0], mu, sigma, 2, groups=np.zeros(8) + 0.5)


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
@pytest.mark.parametrize("d", [2, 16, 200])
def test_pruned_greedy_picks_what_full_rescoring_picks(n_annotated, dtype, d):
    rng = np.random.RandomState(d + n_annotated)
    # a pool with structure: a few clusters of different sizes and spreads
    n = 3000 if d < 200 else 1500
    centers = rng.normal(scale=3.0, size=(5, d))
    codes = (centers[rng.randint(5, size=n)] + rng.gamma(1.0, size=(n, d))).astype(dtype)
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


def test_the_shape_of_the_tail_function():
    """Step 1 of the bound's derivation: for f(t) = -log(2 Phi(-t)), f'(0) = sqrt(2/pi) =
    c and max(t, c) <= f'(t) <= t + c up to _MAX_DISTANCE; 0 < f'' < 1 (f' increasing
    by less than the step)."""
    from scipy.special import log_ndtr

    from bsqkit.functional.greedy_bsq import _MAX_DISTANCE, _tail_slope

    t = np.concatenate([np.linspace(0, 10, 20001), np.geomspace(10, _MAX_DISTANCE, 2000)[1:]])
    slope = _tail_slope(t, log_ndtr(-t))
    c = np.sqrt(2 / np.pi)
    assert slope[0] == pytest.approx(c, rel=1e-12)
    assert np.all(slope >= np.maximum(t, c) * (1 - 1e-9))
    assert np.all(slope <= t + c)
    # the curvature where f' keeps full precision (further out its exponent cancels,
    # f'' -> 1 and the computed rise overshoots the step by rounding: _MAX_DISTANCE)
    near = t <= 100
    rise, step = np.diff(slope[near]), np.diff(t[near])
    assert np.all(rise > 0) and np.all(rise < step)


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


def test_rows_beyond_the_largest_distance_are_unbounded_and_still_picked_right():
    """A row standardised beyond ``_MAX_DISTANCE`` from the annotated mean (one annotated
    code: its spread is the floor, 1e-3 of the pool's) gets an infinite bound, so it
    is always rescored; the picks stay those of rescoring everything."""
    from bsqkit.functional.greedy_bsq import _MAX_DISTANCE, ChangeBound, standardised_pass

    rng = np.random.RandomState(11)
    codes = rng.normal(size=(2000, 4))
    codes[:3] *= 100.0  # far out: some 30 pool sigmas, over a 1e-3 floor 3e4 floors
    annotated = rng.normal(scale=0.1, size=(1, 4))
    mu, sigma = fit_diagonal_gaussian(codes, annotated)
    mean_a = (annotated[0] - mu) / sigma
    sigma_a = np.full(4, 1e-3)
    bound = ChangeBound(len(codes), 4)
    bound.begin(mean_a, sigma_a, None)
    ref = standardised_pass(codes, None, mu, sigma, mean_a, sigma_a, bound)
    bound.end()
    distances = np.abs((codes - mu) / sigma - mean_a) / sigma_a
    beyond = np.sqrt((distances**2).sum(axis=1)) > _MAX_DISTANCE
    np.testing.assert_array_equal(np.flatnonzero(beyond), [0, 1, 2])
    growth = bound.growth(mean_a + 1e-4, sigma_a * 1.01, -ref)
    np.testing.assert_array_equal(np.isinf(growth), beyond)
    got = greedy_bsq_selection(codes, annotated, mu, sigma, 10)
    ref_picks = _greedy_by_full_rescoring(codes, annotated, mu, sigma, 10)
    np.testing.assert_array_equal(got[0], ref_picks[0])
    np.testing.assert_allclose(got[1], ref_picks[1], rtol=1e-9)


def test_rounding_allowance_keeps_the_bound_at_vanishing_moves(monkeypatch):
    """At moves of 1e-15 and 1e-14 the exact growth is below the rounding of the scores
    and of the float32 first-order product: with the allowance the bound holds for every
    row (d = 200, heavy tails); without it, it fails for many rows, so this test sees the
    allowance at work."""
    from bsqkit.functional import greedy_bsq
    from bsqkit.functional.greedy_bsq import ChangeBound, standardised_pass

    rng = np.random.RandomState(0)
    d = 200
    codes = (rng.standard_t(3, size=(4000, d)) * rng.uniform(0.5, 3, d)).astype(np.float32)
    mu, sigma = fit_diagonal_gaussian(codes)
    mean_ref, sigma_ref = rng.normal(0, 0.5, d), rng.uniform(0.3, 1.5, d)
    bound = ChangeBound(len(codes), d)
    bound.begin(mean_ref, sigma_ref, None)
    ref = standardised_pass(codes, None, mu, sigma, mean_ref, sigma_ref, bound)
    bound.end()

    def failures() -> int:
        count = 0
        for move in (1e-15, 1e-14):
            mean_a = mean_ref + rng.normal(0, move, d)
            sigma_a = sigma_ref * np.exp(rng.normal(0, move / 3, d))
            growth = ref - standardised_pass(codes, None, mu, sigma, mean_a, sigma_a)
            count += int(np.sum(bound.growth(mean_a, sigma_a, -ref) < growth))
        return count

    assert failures() == 0
    monkeypatch.setattr(greedy_bsq, "_rounding_allowance", lambda *args: 0.0)
    assert failures() > 100
