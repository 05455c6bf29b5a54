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
    mu, sigma = fit_diagonal_gaussian([[1.0, 2.0]], min_sigma=0.1)
    np.testing.assert_allclose(mu, [1.0, 2.0])
    np.testing.assert_allclose(sigma, [0.1, 0.1])
    with pytest.raises(ValueError, match="codes"):
        fit_diagonal_gaussian(np.empty((0, 3)))
    # the old name of the absolute floor still works, with a warning
    with pytest.warns(FutureWarning, match="min_sigma"):
        _, old = fit_diagonal_gaussian([[1.0, 2.0]], sigma_floor=0.1)
    np.testing.assert_array_equal(old, sigma)


def test_zero_sigma_is_rejected():
    with pytest.raises(ValueError, match="sigma"):
        log_tail_likelihood([[0.0]], [0.0], [0.0])


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


def test_gaussian_of_huge_codes_is_finite_and_overflowing_ones_are_refused():
    rng = np.random.RandomState(4)
    codes = rng.normal(size=(50, 3))
    _, sigma = fit_diagonal_gaussian(codes * 1e200)
    np.testing.assert_allclose(sigma / 1e200, codes.std(axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="too large"):
        fit_diagonal_gaussian(np.full((4, 2), 1.7e308) * np.array([[1], [1], [-1], [1]]))


def test_gaussian_of_codes_near_the_float_limit():
    codes = np.full((1000, 2), 1e307) * np.array([1.0, -1.0])
    mu, _ = fit_diagonal_gaussian(codes)
    np.testing.assert_allclose(mu, [1e307, -1e307])
