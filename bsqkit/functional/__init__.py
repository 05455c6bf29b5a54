"""Pure, stateless scoring and selection functions behind the query strategies."""

from bsqkit.functional.bsq import bsq_scores, log_tail_likelihood, summed_log_tail_likelihood
from bsqkit.functional.greedy_bsq import greedy_bsq_selection
from bsqkit.functional.groups import (
    GROUP_AGGREGATES,
    aggregate_by_group,
    encode_groups,
    group_means,
)
from bsqkit.functional.moments import fit_bsq_gaussians, fit_diagonal_gaussian
from bsqkit.functional.selection import greedy_max_cover, k_center_greedy, top_k
from bsqkit.functional.uncertainty import (
    estimate_uncertainty,
    mc_dropout_variance,
    mc_progress,
    predictive_entropy,
)

__all__ = [
    "GROUP_AGGREGATES",
    "aggregate_by_group",
    "bsq_scores",
    "encode_groups",
    "estimate_uncertainty",
    "fit_bsq_gaussians",
    "fit_diagonal_gaussian",
    "greedy_bsq_selection",
    "greedy_max_cover",
    "group_means",
    "k_center_greedy",
    "log_tail_likelihood",
    "mc_dropout_variance",
    "mc_progress",
    "predictive_entropy",
    "summed_log_tail_likelihood",
    "top_k",
]
