"""Bayesian Sample Querying (BSQ): uncertainty, then representativeness in a latent space."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from bsqkit._dask import members_of
from bsqkit.base import QueryStrategy
from bsqkit.functional import (
    GROUP_AGGREGATES,
    aggregate_by_group,
    bsq_scores,
    fit_bsq_gaussians,
    greedy_bsq_selection,
    summed_log_tail_likelihood,
    top_k,
)
from bsqkit.functional.greedy_bsq import greedy_bsq_blocks
from bsqkit.functional.moments import moments_of, with_labeled_gaussian
from bsqkit.functional.selection import best_units
from bsqkit.query._encoder import EncoderMixin
from bsqkit.query.uncertainty import shortlist_description, uncertain_shortlist

__all__ = ["BayesianSampleQuery"]


class BayesianSampleQuery(EncoderMixin, QueryStrategy):
    """Bayesian Sample Querying (Ozdemir et al. 2021, Eqs. 3-8): uncertainty, then
    representativeness in a latent space.

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
        ``"top"`` takes the best scores at once (the paper's, hence the default).
        ``"greedy"`` refits the annotated Gaussian after each pick, so a batch does not
        pile into one region; it is the one to prefer ("Which strategy when" in the
        docs).
    sigma_floor : float, default=1e-3
        Lower bound of the annotated standard deviations, relative to the pool's in
        each dimension (one annotated image has standard deviation 0).
    n_instances : int, default=1
        Batch size when a query does not give one (a number of groups in a group
        query).
    n_mc : int, default=17
        MC-dropout passes for the uncertainty pre-selection.
    group_aggregate : {"mean", "max", "sum"}, default="mean"
        In a group query, how the members' uncertainties and BSQ scores make the
        group's (the paper's volume score is the mean of its slices' scores). The
        ``n_uncertain`` most uncertain groups are shortlisted; "greedy" adds a chosen
        group's codes to the annotated Gaussian before the next pick.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice of the strategy (and its MC-dropout masks): an int
        repeats the same queries; None draws fresh randomness every time.

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

    _parameter_constraints: ClassVar[dict] = {
        **QueryStrategy._parameter_constraints,
        "encoder": [HasMethods(["transform"]), None],
        "n_uncertain": [Interval(Integral, 1, None, closed="left"), None],
        "batch_mode": [StrOptions({"top", "greedy"})],
        "sigma_floor": [Interval(Real, 0, None, closed="neither")],
        "n_mc": [Interval(Integral, 2, None, closed="left")],
        "group_aggregate": [StrOptions(set(GROUP_AGGREGATES))],
    }
    _supports_groups = True

    def __init__(
        self,
        encoder: Any = None,
        n_uncertain: int | None = None,
        batch_mode: str = "top",
        sigma_floor: float = 1e-3,
        n_instances: int = 1,
        n_mc: int = 17,
        group_aggregate: str = "mean",
        random_state: Any = None,
    ):
        super().__init__(n_instances=n_instances, random_state=random_state)
        self.encoder = encoder
        self.n_uncertain = n_uncertain
        self.batch_mode = batch_mode
        self.sigma_floor = sigma_floor
        self.n_mc = n_mc
        self.group_aggregate = group_aggregate

    def describe_picks(self) -> dict[str, str]:
        """What :attr:`pick_details_` holds (see :meth:`QueryStrategy.describe_picks`)."""
        representativeness = (
            "BSQ's representativeness (paper Eq. 8): how much likelier the pick's code is "
            "under the pool's Gaussian than under the annotated set's, summed over the "
            "latent dimensions (log units; higher = typical of the pool and unlike what is "
            "annotated), against the annotated set before this batch"
        )
        if self.batch_mode == "greedy":
            score = (
                "the representativeness when the pick was made, against the annotated set "
                "plus the batch's earlier picks (greedy: the annotated Gaussian is refitted "
                "after each pick, so a later pick may score above an earlier one)"
            )
        else:
            score = "the representativeness: the picks are the best scores at once"
        details = {"score": score, "representativeness": representativeness}
        if self.n_uncertain is not None:
            details["uncertainty"] = shortlist_description(self)
        return details

    def _select(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, labeled_groups):
        n_groups = int(groups.max()) + 1
        if self.n_uncertain is None:
            shortlist, rows, row_groups = np.arange(n_groups), None, groups
        else:
            shortlist = uncertain_shortlist(self, estimator, X_pool, groups, n_instances, rng)
            rows, row_groups = _shortlist_rows(shortlist, groups)
        codes, codes_labeled = self._encode_pool(X_pool, X_labeled)
        pool_parts = [codes] if codes_labeled is None else [codes, codes_labeled]
        gaussians = fit_bsq_gaussians(pool_parts, codes_labeled, self.sigma_floor)
        # all candidates: no fancy-indexed copy of the whole pool
        cand_codes = codes if rows is None else codes[rows]
        picks, scores = self._rank(
            cand_codes, codes_labeled, gaussians, row_groups, len(shortlist), n_instances
        )
        self._note_representativeness(cand_codes, gaussians, row_groups, shortlist, picks, scores)
        return shortlist[picks], scores

    def _select_dask(self, X_pool, *, X_labeled, estimator, n_instances, rng, groups, **kwargs):
        from bsqkit._dask import rows_of, unit_count

        n_units = unit_count(X_pool, groups)
        if self.n_uncertain is not None:
            # the shortlist first, as in memory: the same draws from rng
            shortlist = uncertain_shortlist(self, estimator, X_pool, groups, n_instances, rng)
        codes = self._dask_codes(X_pool)
        codes_labeled = None if X_labeled is None else self._encode(X_labeled)
        extra = [] if codes_labeled is None else [codes_labeled]
        mu_pool, sigma_pool = moments_of(codes, *extra)
        gaussians = with_labeled_gaussian(mu_pool, sigma_pool, codes_labeled, self.sigma_floor)
        if self.n_uncertain is not None:
            # the shortlisted codes are few: gathered, then ranked as in memory
            rows, row_groups = _shortlist_rows(shortlist, groups)
            cand_codes = rows_of(codes, rows)
            picks, scores = self._rank(
                cand_codes, codes_labeled, gaussians, row_groups, len(shortlist), n_instances
            )
            self._note_representativeness(
                cand_codes, gaussians, row_groups, shortlist, picks, scores
            )
            return shortlist[picks], scores
        mu_pool, sigma_pool, mu_an, sigma_an = gaussians
        if self.batch_mode == "greedy":
            picks, scores = greedy_bsq_blocks(
                codes, codes_labeled, mu_pool, sigma_pool, n_instances, self.sigma_floor,
                groups, n_units, self.group_aggregate,
            )  # fmt: skip
            # the picks' rows are few: gathered to score them before the batch
            rows, row_groups = _shortlist_rows(picks, groups)
            self._note_representativeness(
                rows_of(codes, rows), gaussians, row_groups, picks, np.arange(len(picks)), scores
            )
            return picks, scores
        score = _log_tail_score if mu_an is None else _bsq_score
        picks, scores = best_units(
            (score, codes), groups, n_units, self.group_aggregate, n_instances,
            mu_pool, sigma_pool, mu_an, sigma_an,
        )  # fmt: skip
        self._note("representativeness", picks, scores)
        return picks, scores

    def _note_representativeness(self, cand_codes, gaussians, row_groups, units, picks, scores):
        """Note each pick's BSQ score against the annotated set before the batch: the
        top mode's score itself; for the greedy, the candidates' rows of the picked
        units scored with the batch's starting Gaussians.

        ``row_groups`` numbers each row of ``cand_codes`` by its position in ``units``
        (None: row ``i`` is unit ``i``); ``picks`` are positions in ``units``."""
        if self.batch_mode != "greedy":
            self._note("representativeness", units[picks], scores)
            return
        mu_pool, sigma_pool, mu_an, sigma_an = gaussians
        row_groups = np.arange(len(cand_codes)) if row_groups is None else row_groups
        rows = np.flatnonzero(np.isin(row_groups, picks))
        if mu_an is None:
            row_scores = summed_log_tail_likelihood(cand_codes[rows], mu_pool, sigma_pool)
        else:
            row_scores = bsq_scores(cand_codes[rows], mu_pool, sigma_pool, mu_an, sigma_an)
        per_unit = aggregate_by_group(
            row_scores, row_groups[rows], len(units), self.group_aggregate
        )
        self._note("representativeness", units[picks], per_unit[picks])

    def _rank(self, cand_codes, codes_labeled, gaussians, row_groups, n_units, n_instances):
        """Picks among candidate codes held in memory (unit numbers and scores)."""
        mu_pool, sigma_pool, mu_an, sigma_an = gaussians
        if self.batch_mode == "greedy":
            d = cand_codes.shape[1]
            return greedy_bsq_selection(
                cand_codes,
                np.empty((0, d)) if codes_labeled is None else codes_labeled,
                mu_pool,
                sigma_pool,
                n_instances,
                relative_floor=self.sigma_floor,
                groups=row_groups,
                group_aggregate=self.group_aggregate,
            )
        if mu_an is None:
            # nothing annotated yet: the annotated term is the same for every candidate
            scores = summed_log_tail_likelihood(cand_codes, mu_pool, sigma_pool)
        else:
            scores = bsq_scores(cand_codes, mu_pool, sigma_pool, mu_an, sigma_an)
        scores = aggregate_by_group(scores, row_groups, n_units, self.group_aggregate)
        picks = top_k(scores, n_instances)
        return picks, scores[picks]


def _shortlist_rows(shortlist, groups):
    """Rows of the shortlisted units in pool order, and each row's rank in the shortlist
    (``groups`` None: each row its own unit)."""
    members = np.sort(shortlist) if groups is None else members_of(groups, shortlist)
    unit_of_row = members if groups is None else groups[members]
    order = np.argsort(shortlist)
    return members, order[np.searchsorted(shortlist[order], unit_of_row)]


def _log_tail_score(block, start, mu_pool, sigma_pool, mu_an, sigma_an):
    return summed_log_tail_likelihood(block, mu_pool, sigma_pool)


def _bsq_score(block, start, mu_pool, sigma_pool, mu_an, sigma_an):
    return bsq_scores(block, mu_pool, sigma_pool, mu_an, sigma_an)
