"""Greedy BSQ batches: the annotated Gaussian refitted after each pick, with a pruning
bound so that only the candidates that can still win are rescored (same picks as a full
rescoring).

``standardised_pass`` (a pass over the codes that records the bound) and
``ChangeBound`` are what the Dask path shares with the in-memory greedy.

Kept whole: the bound, the in-memory greedy and its Dask form share the pass that
records the bound and their kernels; apart, they would import each other's private
names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_ndtr

from bsqkit._dask import members_of, per_block, rows_of
from bsqkit._deprecation import renamed_keywords
from bsqkit.functional.bsq import LOG2
from bsqkit.functional.groups import aggregate_by_group, group_values
from bsqkit.functional.moments import chunk_rows, code_moments, float_rows
from bsqkit.functional.selection import best_units, top_k

__all__ = ["greedy_bsq_selection"]

# distances below _NEAR (0.1, then up to 0.25) are kept one by one, where a later move
# may flip a sign; beyond, how many per row are past each of _BANDS
_NEAR = (0.1, 0.25)
_BANDS = (0.25, 0.5, 1.0, 2.0)
_MAX_DISTANCE = 1e4  # beyond it f' loses precision (its exponent cancels): not bounded
_SLOPE_AT_ZERO = float(np.sqrt(2.0 / np.pi))  # f'(0), the smallest slope of f
# the bound's product runs in float32 (this its unit roundoff); the float64 scores get a
# relative margin far above their own rounding and far below the gaps that decide picks
_FLOAT32_EPS = 2.0**-23
_SCORE_MARGIN = 1e-9
# a pick first rescores this many open units, those with the highest bounds: most picks
# are decided by them, and one batch costs little more than one unit
_FIRST_RESCORE = 64
_HALF_LOG_2PI = float(0.5 * np.log(2.0 * np.pi))


def _tail_slope(t: NDArray, log_tail: NDArray, out: NDArray | None = None) -> NDArray[np.float64]:
    """``f'(t) = phi(t) / Phi(-t)`` for ``f(t) = -log(2 Phi(-t))``, from ``log Phi(-t)``;
    in ``out`` when given (no temporaries: the greedy's full pass is its dearest step).
    Infinite ``t`` gives nan."""
    out = np.multiply(t, t, out=out)
    out *= -0.5
    with np.errstate(invalid="ignore"):
        out -= log_tail
        out -= _HALF_LOG_2PI
        return np.exp(out, out=out)


class ChangeBound:
    """How much each row's BSQ score can grow when the annotated Gaussian moves.

    A score is the pool term plus ``sum_d f(x_d)``, ``f(t) = -log(2 Phi(-t))``, ``x`` the
    row's standardised distances ``|u - mean| / sigma`` to the annotated Gaussian. f is
    convex with ``0 < f'' < 1`` (one minus a truncated normal's variance), so
    ``f(y) - f(x) <= f'(x) (y - x) + (y - x)**2 / 2``. Under a new Gaussian
    ``(mean + delta, sigma')``, with ``r = sigma / sigma'``, ``h = delta / sigma'`` and ``s``
    the sign of ``u - mean``: ``y = |r s x - h|``, which is ``r x - s h`` wherever
    ``r x >= |h|`` and at most ``r x + |h|`` everywhere, and ``|y - x| <= |r - 1| x + |h|``.

    A pass over rows under a Gaussian records per row ``f'(x) x`` and ``f'(x) s``
    (float32: twice the memory of float32 codes). The first-order change is then one
    matrix-vector product that keeps the signs of ``h`` (a bound on ``|h|`` alone grows
    with every dimension); the second-order term joins it through ``x**2 <= f'(x) x``
    and ``x <= f'(x) x / f'(0)``. A sign flips only where ``x < |h| / r``, which gains
    at most ``2 (|h| - r x)`` over ``r x - s h`` where ``s h > 0``: for the distances
    below ``_NEAR[-1]`` the slopes are kept one by one in a sparse matrix (by band and
    side, so each gains in its own dimension), and further out each row counts its
    distances per band of ``_BANDS`` and gains the most any dimension can. Every row
    keeps the record of the last pass that scored it (its reference): a row rescored
    exactly is bounded from there on, the others from the full pass.
    """

    def __init__(self, n: int, d: int):
        self.slopes = np.empty((n, 2 * d), dtype=np.float32)
        self.sums = np.empty((n, 2))  # sum x, sum x**2
        # per row, how many distances are at least each of _BANDS
        self.beyond = np.empty((n, len(_BANDS)), dtype=np.float32)
        self.unbounded = np.zeros(n, dtype=bool)
        self.reference = np.zeros(n, dtype=np.intp)  # which pass each row's record is from
        self.passes: list[tuple] = []  # (mean, sigma, rows or None for all, near slopes)
        self._near: list = []

    def begin(self, mean: NDArray, sigma: NDArray, rows: NDArray[np.intp] | None) -> None:
        """A pass over ``rows`` (None: all) under the Gaussian ``(mean, sigma)`` starts."""
        self.passes.append((mean, sigma, rows, None))
        self._near = []

    def record(self, part: slice, distances: NDArray, signed: NDArray, log_tail: NDArray) -> None:
        """Keep what bounds the pass's rows at positions ``part`` (``signed``: ``u - mean``)."""
        rows = self.passes[-1][2]
        target = part if rows is None else rows[part]
        d = distances.shape[1]
        slope = _tail_slope(distances, log_tail)  # inf distances: nan, flagged below
        with np.errstate(invalid="ignore"):
            self.slopes[target, :d] = slope * distances
        toward_negative = np.signbit(signed)  # s = -1, as copysign reads the sign
        np.copysign(slope, signed, out=signed)
        self.slopes[target, d:] = signed
        self.sums[target, 0] = distances.sum(axis=1)
        self.sums[target, 1] = np.einsum("ij,ij->i", distances, distances)
        for k, edge in enumerate(_BANDS):
            self.beyond[target, k] = np.count_nonzero(distances >= edge, axis=1)
        # beyond _MAX_DISTANCE f' loses precision (its exponent cancels): not bounded
        self.unbounded[target] = ~(self.sums[target, 1] <= _MAX_DISTANCE**2)
        self.reference[target] = len(self.passes) - 1
        # the near distances' slopes, row by row as a CSR matrix stores them, in columns
        # d * (2 band + sign) + dimension: one product applies each its own gain
        near = distances < _NEAR[-1]
        at = np.flatnonzero(near)
        flat = distances.ravel()[at]
        kind = 2 * (flat >= _NEAR[0]) + toward_negative.ravel()[at]
        self._near.append(
            (
                np.count_nonzero(near, axis=1),
                (at % d + d * kind).astype(np.int32),  # 4 d columns
                slope.ravel()[at].astype(np.float32),
            )
        )

    def end(self) -> None:
        """Gather the pass's near-distance slopes into a sparse matrix."""
        import scipy.sparse

        mean, sigma, rows, _ = self.passes[-1]
        n = self.slopes.shape[0] if rows is None else len(rows)
        counts, cols, values = (np.concatenate(p) for p in zip(*self._near, strict=True))
        self._near = []
        indptr = np.concatenate([[0], np.cumsum(counts)])
        if indptr[-1] < 2**31:  # scipy keeps int32 indices only with an int32 indptr
            indptr = indptr.astype(np.int32)
        near = scipy.sparse.csr_array((values, cols, indptr), shape=(n, 2 * self.slopes.shape[1]))
        self.passes[-1] = (mean, sigma, rows, near)

    def growth(self, mean_a: NDArray, sigma_a: NDArray, row_ref: NDArray) -> NDArray[np.float64]:
        """Upper bound of each row's score growth from its reference to the Gaussian
        ``(mean_a, sigma_a)``; ``row_ref`` the scores at the references (for the rounding
        allowance); ``inf`` for rows that cannot be bounded."""
        out = np.empty(self.slopes.shape[0])
        live = []
        for number, (mean, sigma, rows, near) in enumerate(self.passes):
            if rows is None:
                which = slice(None)
            else:
                current = self.reference[rows] == number  # not rescored since
                if not current.any():
                    continue
                which = rows = rows[current]
                near = near[np.flatnonzero(current)]
            live.append((mean, sigma, rows, near))
            out[which] = self._growth(
                mean, sigma, mean_a, sigma_a, self.slopes[which], near, self.sums[which],
                self.beyond[which], row_ref[which],
            )  # fmt: skip
        self.passes = live  # passes whose rows were all rescored since are dropped
        self.reference = np.zeros_like(self.reference)
        for number, (_, _, rows, _) in enumerate(live):
            self.reference[slice(None) if rows is None else rows] = number
        out[self.unbounded] = np.inf
        return out

    @staticmethod
    def _growth(mean_ref, sigma_ref, mean_a, sigma_a, slopes, near, sums, beyond, row_ref):
        r = sigma_ref / sigma_a
        h = (mean_a - mean_ref) / sigma_a
        shrink = r - 1.0
        # second order, 0.5 sum (|r - 1| x + |h|)**2, with x**2 <= f'(x) x (f'(x) >= x) and
        # x <= f'(x) x / c (f'(x) >= f'(0) = c): in the same product as the first order
        c = _SLOPE_AT_ZERO
        on_scaled = shrink + 0.5 * shrink**2 + np.abs(shrink * h) / c
        change = slopes @ np.concatenate([on_scaled, -h]).astype(np.float32)
        change = change.astype(np.float64)
        # a sign flips only where x < |h| / r: then y - x gains at most 2 (|h| - r x) over
        # r x - s h, and only where s h > 0. Near distances (band [lo, hi)) gain at most
        # 2 f'(x) (|h| - r lo), each in its own dimension
        toward = [np.where(h >= 0, 1.0, 0.0), np.where(h < 0, 1.0, 0.0)]  # s = +1, -1
        gains = [
            2.0 * np.maximum(np.abs(h) - r * lo, 0.0) * side
            for lo in (0.0, _NEAR[0])
            for side in toward
        ]
        change += near @ np.concatenate(gains).astype(np.float32)
        # further out, per row how many distances lie in each band [lo, hi), each gaining
        # at most 2 f'(hi) max_d (|h| - r lo) (the last band's hi: the largest |h| / r)
        edges = np.append(_BANDS, max(_BANDS[-1], float(np.max(np.abs(h) / r))))
        gain = 2.0 * np.maximum(np.abs(h)[:, None] - r[:, None] * edges[None, :-1], 0.0).max(0)
        gain *= _tail_slope(edges[1:], log_ndtr(-edges[1:]))
        in_band = beyond - np.append(beyond[:, 1:], np.zeros((len(beyond), 1)), axis=1)
        change += in_band @ gain
        const = 0.5 * float(np.sum(h**2))
        return change + const + _rounding_allowance(on_scaled, h, sums, row_ref, const)


def _rounding_allowance(on_scaled, h, sums, row_ref, const):
    """What rounding can add to a row's computed growth beyond the exact bound.

    The first-order product runs in float32 (slopes and vector): sums of ``2 d`` products,
    each off by at most ``2**-23`` of the magnitude ``step * sum f'(x) (x + 1)``, and
    ``f'(x) <= x + sqrt(2 / pi)`` bounds that by the row's recorded sums of ``x`` and
    ``x**2``. The float64 scores themselves (sums of ``d`` log tails, a difference of two
    of them) carry a relative ``1e-9`` margin: far above float64's ``d * 2**-52`` for any
    ``d`` up to millions, far below the score gaps that decide picks.
    """
    d = len(h)
    c = _SLOPE_AT_ZERO
    step = max(np.abs(on_scaled).max(), np.abs(h).max())
    magnitude = sums[:, 1] + (1.0 + c) * sums[:, 0] + c * d
    rounding = (2 * d + 4) * _FLOAT32_EPS * step * magnitude
    rounding += _SCORE_MARGIN * (np.abs(row_ref) + const + d)
    return rounding


def standardised_pass(
    codes: NDArray,
    rows: NDArray[np.intp] | None,
    mu_pool: NDArray,
    sigma_pool: NDArray,
    mean_a: NDArray | None,
    sigma_a: NDArray | None,
    change_bound: ChangeBound | None = None,
) -> NDArray[np.float64]:
    """Summed log tail likelihood of rows, in coordinates standardised by the pool Gaussian.

    With ``mean_a`` None the pool term (``u = (z - mu_pool) / sigma_pool`` under N(0, 1)),
    else the annotated term (``u`` under N(mean_a, sigma_a)). ``change_bound`` (all rows)
    records what bounds each row's later score changes (:class:`ChangeBound`).
    Chunks of about 16 MB; the same operations in the same order on every call, so a
    row's value does not depend on which other rows are scored with it.
    """
    n = codes.shape[0] if rows is None else len(rows)
    d = codes.shape[1]
    chunk = chunk_rows(d)
    out = np.empty(n)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        block = codes[part] if rows is None else codes[rows[part]]
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.subtract(block, mu_pool, dtype=np.float64)
            x /= sigma_pool
        if not np.isfinite(x).all():
            raise ValueError("codes overflow float64 once centred on the pool mean; rescale them")
        if mean_a is not None:
            x -= mean_a
        signed = x.copy() if change_bound is not None else None
        np.abs(x, out=x)
        if sigma_a is not None:
            x /= sigma_a
        distances = x.copy() if change_bound is not None else None
        np.negative(x, out=x)
        log_ndtr(x, out=x)
        if change_bound is not None:
            change_bound.record(part, distances, signed, x)
        out[part] = x.sum(axis=1)
        del x, block  # before the next chunk is made: one chunk alive at a time
    out += d * LOG2
    return out


@renamed_keywords(codes_annotated="codes_labeled")
def greedy_bsq_selection(
    codes: ArrayLike,
    codes_labeled: ArrayLike,
    mu_pool: ArrayLike,
    sigma_pool: ArrayLike,
    n_select: int,
    relative_floor: float = 1e-3,
    groups: ArrayLike | None = None,
    group_aggregate: str = "mean",
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Select codes (or groups of codes) one at a time, refitting the annotated Gaussian.

    The paper's batch mode takes the top ``n_select`` scores at once, which can pile a
    whole batch into one under-covered region; here each pick joins the annotated set
    before the next score is computed. The annotated moments are merged pick by pick
    (Chan et al.'s pairwise update, numerically stable), in coordinates standardised by
    the pool Gaussian: the selection depends on ``|z - mu| / sigma`` only, as the score
    does, so shifting or scaling the codes does not change it.

    Each pick changes only the annotated Gaussian, so the pool term is computed once,
    and a pick rescores only the candidates that can still win. The first pass under an
    annotated Gaussian records, per code, the slope of ``-log(2 Phi(-x))`` at each of
    its standardised distances ``x`` with the side of the mean it lies on; since the
    curvature of that function is below 1, a code's score can have grown since by at
    most a first-order term that is exact in the signs of the move plus a small
    second-order term (the bound of ``ChangeBound``). Candidates whose bound is below
    the best exact score are skipped; a code rescored is bounded from then on from the
    Gaussian it was rescored under, and a full pass is made again only when most codes
    would need rescoring. The picks and their scores are those of rescoring every
    candidate at every pick. Extra memory: the slopes, float32 and two per distance (the
    size of float64 codes), plus the distances below 0.25 (about a fifth of them for
    codes near the annotated Gaussian) at 8 bytes each in a sparse matrix.

    Parameters
    ----------
    codes : array-like of shape (n_candidates, n_latent)
        float32 codes are not copied to float64; scores are computed in float64 chunks.
    codes_labeled : array-like of shape (n_labeled, n_latent)
        May be empty (then the first pick uses the pool Gaussian alone).
    mu_pool, sigma_pool : array-like of shape (n_latent,)
        The pool Gaussian (:func:`fit_bsq_gaussians`; ``inf`` marks a constant
        dimension, which adds 0 to every score).
    n_select : int
        Number of picks: ``1 <= n_select <= n_candidates`` (or the number of groups).
    relative_floor : float, default=1e-3
        Floor of the annotated standard deviations relative to the pool's (one annotated
        code has standard deviation 0).
    groups : array-like of int of shape (n_candidates,), optional
        Group of each candidate in ``[0, n_groups)``, every group non-empty. Groups are
        then picked whole: a group's score is the ``group_aggregate`` of its members'
        scores, and all its members join the annotated Gaussian before the next pick.
    group_aggregate : {"mean", "max", "sum"}, default="mean"
        How a group's score is made from its members' scores (only with ``groups``).

    Returns
    -------
    indices : ndarray of shape (n_select,)
        Positions in ``codes`` (or group numbers, with ``groups``), in pick order.
    scores : ndarray of shape (n_select,)
        The BSQ score of each pick when it was picked.

    Examples
    --------
    >>> import numpy as np
    >>> from bsqkit.functional import fit_diagonal_gaussian, greedy_bsq_selection
    >>> codes = np.array([[-2.0], [-1.9], [0.0], [1.9], [2.0]])
    >>> annotated = np.array([[0.0], [0.1]])
    >>> mu, sigma = fit_diagonal_gaussian(codes, annotated)
    >>> idx, scores = greedy_bsq_selection(codes, annotated, mu, sigma, n_select=2)
    >>> idx  # one pick on each side of the annotated mass, not two on one side
    array([0, 4])
    """
    return _greedy_bsq(
        codes, codes_labeled, mu_pool, sigma_pool, n_select, relative_floor, groups,
        group_aggregate,
    )  # fmt: skip


def _greedy_bsq(
    codes, codes_labeled, mu_pool, sigma_pool, n_select, relative_floor=1e-3, groups=None,
    group_aggregate="mean", trace=None, start=None,
):  # fmt: skip
    """:func:`greedy_bsq_selection`; ``trace`` (a list) receives the annotated Gaussian
    (standardised mean and spread, or None before any annotation) each pick was made
    under; ``start`` (count, mean, M2 in standardised coordinates) replaces the annotated
    moments computed from ``codes_labeled``."""

    mu_pool = np.asarray(mu_pool, dtype=np.float64)
    sigma_pool = np.asarray(sigma_pool, dtype=np.float64)
    if np.any(~(sigma_pool > 0)):
        raise ValueError("sigma_pool must be positive in every dimension")
    if not relative_floor > 0:
        raise ValueError(f"relative_floor must be > 0, got {relative_floor}")
    codes = float_rows(codes)
    n_candidates, d = codes.shape
    annotated = np.asarray(codes_labeled, dtype=np.float64)
    if annotated.size == 0:
        annotated = annotated.reshape(0, d)
    if annotated.ndim != 2 or annotated.shape[1] != d:
        raise ValueError(f"codes_labeled must have shape (n_labeled, {d}), got {annotated.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        u_annotated = (annotated - mu_pool) / sigma_pool
    if not np.isfinite(u_annotated).all():
        raise ValueError("codes overflow float64 once centred on the pool mean; rescale them")
    if groups is None:
        group_of, n_groups = None, n_candidates
    else:
        group_of = np.asarray(groups)
        if group_of.shape != (n_candidates,) or group_of.dtype.kind not in "iu":
            raise ValueError(
                f"groups must be integers of shape ({n_candidates},), got {group_of.dtype} "
                f"of shape {group_of.shape}"
            )
        n_groups = int(group_of.max()) + 1 if len(group_of) else 0
        if len(group_of) and (group_of.min() < 0 or len(np.unique(group_of)) != n_groups):
            raise ValueError("groups must number the groups 0 .. n_groups - 1, each used")
    if not 1 <= n_select <= n_groups:
        raise ValueError(f"n_select must be in [1, {n_groups}], got {n_select}")

    def members(units: NDArray[np.intp]) -> NDArray[np.intp]:
        if group_of is None:
            return units
        return np.concatenate([by_group[bounds[g] : bounds[g + 1]] for g in units])

    def to_units(row_values: NDArray, rows: NDArray[np.intp] | None = None) -> NDArray:
        """Unit scores from the scores of all rows or of ``rows`` (nan for the others)."""
        if group_of is not None:
            of = group_of if rows is None else group_of[rows]
            return aggregate_by_group(row_values, of, n_groups, group_aggregate)
        if rows is None:
            return row_values
        out = np.full(n_groups, np.nan)
        out[rows] = row_values
        return out

    if group_of is not None:
        # the members of every group in ascending row order: a group aggregated from a
        # subset of rows sums in the same order as from all rows
        by_group = np.argsort(group_of, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(group_of, minlength=n_groups))])
    pool_term = standardised_pass(codes, None, mu_pool, sigma_pool, None, None)
    # annotated moments (standardised coordinates) as count, mean and M2
    n_a, mean_a, m2_a = 0, np.zeros(d), np.zeros(d)
    if start is not None:
        n_a, mean_a, m2_a = start
    elif len(u_annotated):
        n_a, mean_a, sigma_a = code_moments([u_annotated])
        m2_a = n_a * np.square(sigma_a)
    open_units = np.ones(n_groups, dtype=bool)
    indices = np.empty(n_select, dtype=np.intp)
    scores = np.empty(n_select, dtype=np.float64)
    bound = row_ref = None  # the change bound and each row's score at its reference
    for step in range(n_select):
        if n_a == 0:
            unit_scores = to_units(pool_term)
            if trace is not None:
                trace.append(None)
        else:
            sigma_a = np.maximum(np.sqrt(m2_a / n_a), relative_floor)
            if trace is not None:
                trace.append((mean_a, sigma_a))
            unit_scores = None
            if bound is not None:
                unit_scores = _pruned_unit_scores(
                    codes, bound, row_ref, mean_a, sigma_a, mu_pool, sigma_pool,
                    pool_term, open_units, members, to_units,
                )  # fmt: skip
            if unit_scores is None:  # first pass, or most rows to rescore
                bound = None  # its arrays freed before the next are made
                bound = ChangeBound(n_candidates, d)
                bound.begin(mean_a, sigma_a, None)
                annotated_term = standardised_pass(
                    codes, None, mu_pool, sigma_pool, mean_a, sigma_a, bound
                )
                bound.end()
                row_ref = pool_term - annotated_term
                unit_scores = to_units(row_ref)
        units = np.flatnonzero(open_units)
        utility = unit_scores[units]
        if np.isnan(utility).any():
            raise ValueError("BSQ scores are NaN; check the codes and the pool Gaussian")
        pick = int(top_k(utility, 1)[0])
        best = int(units[pick])
        indices[step], scores[step] = best, utility[pick]
        open_units[best] = False
        picked = codes[members(np.array([best]))]
        n_a, mean_a, m2_a = _merged_moments(n_a, mean_a, m2_a, picked, mu_pool, sigma_pool)
    return indices, scores


def _merged_moments(
    n_a: int, mean_a: NDArray, m2_a: NDArray, picked: NDArray, mu_pool: NDArray, sigma_pool
) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Annotated count, mean and M2 (standardised coordinates) once the picked codes join
    them (Chan et al. 1979's pairwise update)."""
    n_b, mean_b, sigma_b = code_moments([(np.asarray(picked, np.float64) - mu_pool) / sigma_pool])
    m2_b = n_b * np.square(sigma_b)
    n_new = n_a + n_b
    delta = mean_b - mean_a
    mean_a = mean_a + delta * (n_b / n_new)
    m2_a = m2_a + m2_b + np.square(delta) * (n_a * n_b / n_new)
    return n_new, mean_a, m2_a


def _pruned_unit_scores(
    codes, bound, row_ref, mean_a, sigma_a, mu_pool, sigma_pool, pool_term, open_units,
    members, to_units,
):  # fmt: skip
    """Unit scores under the current annotated Gaussian, exact wherever they can win.

    Returns an array in which every open unit that could be the best carries its exact
    score and every other open unit an upper bound below the best exact score (so
    ``top_k`` picks what a full rescoring would), or None when most rows would need
    rescoring (a full pass is cheaper). Rows rescored become bounded from the current
    Gaussian (``bound`` and ``row_ref`` are updated).
    """
    upper_rows = row_ref + bound.growth(mean_a, sigma_a, row_ref)
    n_rows = len(row_ref)
    upper = to_units(upper_rows)
    upper[~open_units] = -np.inf
    exact = np.zeros(len(upper), dtype=bool)
    budget = n_rows // 2  # rows rescored (in any order) before a full pass is cheaper
    batch = min(_FIRST_RESCORE, int(open_units.sum()))
    while True:
        todo = np.flatnonzero(~exact & open_units)
        if batch < len(todo):
            todo = todo[top_k(upper[todo], batch)]
        rows = np.sort(members(todo))
        budget -= len(rows)
        if budget < 0:
            return None
        bound.begin(mean_a, sigma_a, rows)
        now = standardised_pass(codes, rows, mu_pool, sigma_pool, mean_a, sigma_a, bound)
        bound.end()
        row_ref[rows] = pool_term[rows] - now
        fresh = to_units(row_ref[rows], rows)
        upper[todo] = fresh[todo]
        exact[todo] = True
        best = upper[exact & open_units].max()
        pending = ~exact & open_units & (upper >= best)
        if not pending.any():
            return upper
        batch = int(pending.sum())


# -- on Dask pools: block by block, the same kernels ------------------------------

# the first shortlist: this many units per pick, at least SHORTLIST_MIN (rows gathered to
# the client for exact scoring; the bound prunes the rest)
SHORTLIST_PER_PICK = 64
SHORTLIST_MIN = 4096


def _pool_term(block, start, mu_pool, sigma_pool):

    return standardised_pass(block, None, mu_pool, sigma_pool, None, None)


def _reference_scores(block, start, mu_pool, sigma_pool, mean_ref, sigma_ref, bound=None):

    pool = standardised_pass(block, None, mu_pool, sigma_pool, None, None)
    annotated = standardised_pass(block, None, mu_pool, sigma_pool, mean_ref, sigma_ref, bound)
    return pool - annotated


def _upper_bounds(block, start, mu_pool, sigma_pool, mean_ref, sigma_ref, means, sigmas):
    """Per row and pick, an upper bound of the row's score under that pick's annotated
    Gaussian (``means[j], sigmas[j]``; shape (n_rows, n_picks)), from its exact score
    under the reference one (the in-memory greedy's bound)."""

    bound = ChangeBound(*block.shape)
    bound.begin(mean_ref, sigma_ref, None)
    reference = _reference_scores(block, start, mu_pool, sigma_pool, mean_ref, sigma_ref, bound)
    bound.end()
    pairs = zip(means, sigmas, strict=True)
    growth = [bound.growth(m, s, reference) for m, s in pairs]
    return reference[:, None] + np.stack(growth, axis=1)


def _best_bound_outside(block, start, taken, *coefficients):
    """Per pick, the largest bound over the block's rows not in ``taken``."""
    upper = _upper_bounds(block, start, *coefficients)
    upper[np.isin(start + np.arange(len(block)), taken)] = -np.inf
    return upper.max(axis=0)


def _scores_outside(block, start, taken, mu_pool, sigma_pool, mean_a, sigma_a):
    """Exact scores of a block's rows under an annotated Gaussian, -inf for rows taken."""
    scores = _reference_scores(block, start, mu_pool, sigma_pool, mean_a, sigma_a)
    scores[np.isin(start + np.arange(len(block)), taken)] = -np.inf
    return scores


def greedy_bsq_blocks(
    codes: Any,
    codes_labeled: NDArray | None,
    mu_pool: NDArray,
    sigma_pool: NDArray,
    k: int,
    relative_floor: float,
    groups: NDArray[np.intp] | None,
    n_units: int,
    how: str,
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Greedy BSQ (:func:`~bsqkit.functional.greedy_bsq_selection`) on the codes of a Dask
    pool, with the same picks.

    In rounds: the best units under the current annotated Gaussian are gathered (a
    shortlist of at most ``max(SHORTLIST_PER_PICK * k, SHORTLIST_MIN)`` rows, whole
    groups in a group query, at least the picks left), the greedy runs on them on the
    client, and one pass over the pool checks that no other unit could have won a pick:
    its score under the round's Gaussian bounds its score under every later one (the
    bound of the in-memory pruning). The picks up to the first that fails the check are kept, and
    the next round starts from there. A round costs two passes; once a round keeps
    fewer than two picks, each remaining pick is one exact pass. The check holds for
    many picks when the batch moves the annotated Gaussian little (an annotated set of
    some size); with a handful of annotated codes every pick is a pass.
    """
    d = codes.shape[1]
    annotated = np.empty((0, d)) if codes_labeled is None else np.asarray(codes_labeled, float)
    with np.errstate(over="ignore", invalid="ignore"):
        u_annotated = (annotated - mu_pool) / sigma_pool
    if not np.isfinite(u_annotated).all():
        raise ValueError("codes overflow float64 once centred on the pool mean; rescale them")

    def members(units):
        return np.asarray(units, np.intp) if groups is None else members_of(groups, units)

    n_rows = codes.shape[0]
    sizes = np.ones(n_units, np.intp) if groups is None else np.bincount(groups, minlength=n_units)

    picks: list[int] = []
    scores: list[float] = []
    if len(annotated) == 0:
        # the first pick sees the pool Gaussian alone, as in memory
        unit, score = best_units((_pool_term, codes), groups, n_units, how, 1, mu_pool, sigma_pool)
        picks, scores = [int(unit[0])], [float(score[0])]
        annotated = rows_of(codes, members(unit)).astype(np.float64)
        u_annotated = (annotated - mu_pool) / sigma_pool
    # annotated count, mean and M2 in standardised coordinates, as the in-memory greedy
    n_a, mean_a, sigma_a = code_moments([u_annotated])
    m2_a = n_a * np.square(sigma_a)
    exact_passes = False
    while len(picks) < k:
        now = (mu_pool, sigma_pool, mean_a, np.maximum(np.sqrt(m2_a / n_a), relative_floor))
        taken = np.asarray(picks, dtype=np.intp)
        if exact_passes:
            # one exact pass for this pick
            unit, score = (
                best_units((_scores_outside, codes), groups, n_units, how, 1, taken, *now)
                if groups is None
                else _best_group(codes, groups, n_units, how, taken, now)
            )
            picks.append(int(unit[0]))
            scores.append(float(score[0]))
            n_a, mean_a, m2_a = _merged_moments(
                n_a, mean_a, m2_a, rows_of(codes, members(unit)), mu_pool, sigma_pool
            )
            continue
        # a round: the shortlist under the current Gaussian, the greedy on it, the check
        k_left = k - len(picks)
        budget = max(SHORTLIST_PER_PICK * k_left, SHORTLIST_MIN)  # rows gathered at most
        open_rows = n_rows - sizes[taken].sum()
        if open_rows <= budget:
            shortlist = np.setdiff1d(np.arange(n_units), taken)
        else:
            best, _ = best_units(
                (_reference_scores, codes), groups, n_units, how,
                min(budget + len(taken), n_units), *now,
            )  # fmt: skip
            best = best[~np.isin(best, taken)]  # best first: cut by score, not position
            fits = max(int(np.searchsorted(np.cumsum(sizes[best]), budget, "right")), k_left)
            shortlist = np.sort(best[:fits])
        rows = members(shortlist)
        row_groups = None if groups is None else np.searchsorted(shortlist, groups[rows])
        short_codes = rows_of(codes, rows)
        trace: list = []
        short_picks, short_scores = _greedy_bsq(
            short_codes, annotated, mu_pool, sigma_pool, k_left, relative_floor, row_groups,
            how, trace, (n_a, mean_a, m2_a),
        )  # fmt: skip
        n_verified = k_left
        if len(shortlist) + len(taken) < n_units:  # units left out: check them
            coefficients = (*now, [m for m, _ in trace], [s for _, s in trace])
            outside = np.union1d(shortlist, taken)
            if groups is None:
                upper = np.max(per_block(_best_bound_outside, codes, outside, *coefficients), 0)
            else:
                bound = (_upper_bounds, codes)
                per_group = group_values(bound, groups, n_units, how, *coefficients)
                per_group[outside] = -np.inf
                upper = per_group.max(axis=0)
            failed = np.flatnonzero(~(upper < short_scores))
            n_verified = int(failed[0]) if len(failed) else k_left
        for unit, score in zip(short_picks[:n_verified], short_scores[:n_verified], strict=True):
            picks.append(int(shortlist[unit]))
            scores.append(float(score))
            in_unit = [unit] if groups is None else row_groups == unit
            n_a, mean_a, m2_a = _merged_moments(
                n_a, mean_a, m2_a, short_codes[in_unit], mu_pool, sigma_pool
            )
        # a round costs two passes: below two picks a round, a pass per pick is cheaper
        exact_passes = n_verified < 2
    return np.asarray(picks, dtype=np.intp), np.asarray(scores)


def _best_group(codes, groups, n_units, how, taken, gaussian):
    """The best group not taken under an annotated Gaussian (one exact pass)."""
    per_group = group_values((_reference_scores, codes), groups, n_units, how, *gaussian)[:, 0]
    per_group[taken] = -np.inf
    unit = top_k(per_group, 1)
    return unit, per_group[unit]
