"""Bayesian Sample Querying (BSQ): uncertainty, then representativeness in a latent space."""

from __future__ import annotations

from typing import Any

import numpy as np

from bsqkit.base import QueryStrategy
from bsqkit.functional import (
    bsq_scores,
    fit_bsq_gaussians,
    greedy_bsq_selection,
    summed_log_tail_likelihood,
    top_k,
)
from bsqkit.query._encoder import EncoderMixin
from bsqkit.query.uncertainty import estimate_uncertainty

__all__ = ["BayesianSampleQuery"]


class BayesianSampleQuery(EncoderMixin, QueryStrategy):
    """Bayesian Sample Querying (Ozdemir et al., paper Eqs. 3-8; FCN_BSQ).

    Every image of the pool is encoded; a diagonal Gaussian is fitted to the codes of the
    whole pool (annotated and not) and one to the annotated codes; a candidate's score is
    ``sum_d log q(z_d | pool) - log q(z_d | annotated)`` with ``q`` the two-sided tail
    likelihood (Eq. 8). With ``n_uncertain``, the ``n_uncertain`` most uncertain
    candidates are kept first and the batch is the best BSQ scores among them.

    Parameters
    ----------
    encoder : transformer or None, default=None
        Maps images to codes: an :class:`~bsqkit.nets.MMDVAEEncoder` (the paper), a
        ``PCA`` or any sklearn transformer, fitted or not. An unfitted encoder is cloned
        and fitted once on all pool images at :meth:`fit` or the first query, then
        reused (the paper never retrains it). ``None`` uses the flattened images.
    n_uncertain : int or None, default=None
        Size of the uncertainty pre-selection (64 slices in the paper). ``None`` scores
        every candidate by representativeness alone, as in the paper's appendix. Clipped
        to the number of candidates.
    batch_mode : {"top", "greedy"}, default="top"
        ``"top"`` takes the best scores at once (the paper). ``"greedy"`` refits the
        annotated Gaussian after each pick, so a batch does not pile into one region.
    sigma_floor : float, default=1e-3
        Lower bound of the annotated standard deviations, relative to the pool's in
        each dimension (one annotated image has standard deviation 0).
    n_instances : int, default=1
    n_mc : int, default=17
        MC-dropout passes for the uncertainty pre-selection.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    encoder_ : transformer or None
        The fitted encoder in use.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from bsqkit import BayesianSampleQuery
    >>> X, _ = load_digits(return_X_y=True)
    >>> bsq = BayesianSampleQuery(encoder=PCA(n_components=5), n_instances=10)
    >>> idx, scores = bsq.query(X[20:], X_labeled=X[:20])
    >>> idx.shape
    (10,)
    """

    def __init__(
        self,
        encoder: Any = None,
        n_uncertain: int | None = None,
        batch_mode: str = "top",
        sigma_floor: float = 1e-3,
        n_instances: int = 1,
        n_mc: int = 17,
        random_state: Any = None,
    ):
        super().__init__(n_instances=n_instances, random_state=random_state)
        self.encoder = encoder
        self.n_uncertain = n_uncertain
        self.batch_mode = batch_mode
        self.sigma_floor = sigma_floor
        self.n_mc = n_mc

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng):
        if self.batch_mode not in ("top", "greedy"):
            raise ValueError(f"batch_mode must be 'top' or 'greedy', got {self.batch_mode!r}")
        if not self.sigma_floor > 0:
            raise ValueError(f"sigma_floor must be > 0, got {self.sigma_floor}")
        candidates = np.arange(len(X_pool))
        if self.n_uncertain is not None:
            if self.n_uncertain < n_instances:
                raise ValueError(
                    f"n_uncertain={self.n_uncertain} must be >= n_instances={n_instances}"
                )
            uncertainty = estimate_uncertainty(
                estimator, X_pool, n_mc=self.n_mc, random_state=int(rng.randint(2**31 - 1))
            )
            candidates = top_k(uncertainty, min(self.n_uncertain, len(X_pool)))
        codes, codes_labeled = self._encode_pool(X_pool, X_labeled)
        pool_parts = [codes] if codes_labeled is None else [codes, codes_labeled]
        mu_pool, sigma_pool, mu_an, sigma_an = fit_bsq_gaussians(
            pool_parts, codes_labeled, self.sigma_floor
        )
        # all candidates: no fancy-indexed copy of the whole pool
        cand_codes = codes if self.n_uncertain is None else codes[candidates]
        if self.batch_mode == "greedy":
            picks, scores = greedy_bsq_selection(
                cand_codes,
                np.empty((0, codes.shape[1])) if codes_labeled is None else codes_labeled,
                mu_pool,
                sigma_pool,
                n_instances,
                sigma_floor=self.sigma_floor * sigma_pool,
            )
            return candidates[picks], scores
        if mu_an is None:
            # nothing annotated yet: the annotated term is the same for every candidate
            scores = summed_log_tail_likelihood(cand_codes, mu_pool, sigma_pool)
        else:
            scores = bsq_scores(cand_codes, mu_pool, sigma_pool, mu_an, sigma_an)
        picks = top_k(scores, n_instances)
        return candidates[picks], scores[picks]
