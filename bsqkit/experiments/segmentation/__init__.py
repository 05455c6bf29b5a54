"""The paper's segmentation protocol (Section 3) on any labeled NIfTI data set.

Subject-wise (group-wise) holdouts, 70 / 5 / 25 % of the groups, seeded; within a
holdout every method starts from the same initial slices (or volumes); the MMD-VAE is
trained once per holdout on the pool images only; the segmenter is retrained at every
iteration, from scratch with the same seed (the paper) or, with ``"retrain": "warm"``,
fine-tuned from the previous iteration's model for fewer steps. Budgets (initial set,
batch, uncertainty shortlist, end) are counts or fractions of the pool, so a profile
fits any data set; a run ends at ``until`` or when the pool is used up, and says which.
Test subjects are segmented slice by slice on the common grid, the predictions are
brought back to each subject's own grid and scored there: Dice and symmetric mean
surface distance (mm) per structure (3-D contours as in the paper, and in-plane
contours), with the number of structures predicted empty.

Volume-based mode: a volume is annotated whole, through the strategies' group queries
(``groups`` = the volume of each slice; scores aggregated by their mean, the paper's
volume score).

By role: :mod:`~bsqkit.experiments.segmentation.data` (subjects read, harmonised,
sliced, split and summarised), :mod:`~bsqkit.experiments.segmentation.methods` (the
compared methods, the MMD-VAE), :mod:`~bsqkit.experiments.segmentation.evaluation`
(scores on each subject's own grid, retraining noise),
:mod:`~bsqkit.experiments.segmentation.protocol` (one method on one holdout, budgets)
and :mod:`~bsqkit.experiments.segmentation.runner` (every holdout and method into a
folder). The statistics over holdouts are in :mod:`bsqkit.experiments.statistics`.
"""

from bsqkit.experiments.segmentation.evaluation import evaluate_subjects, noise_floor
from bsqkit.experiments.segmentation.methods import METHODS, train_encoder
from bsqkit.experiments.segmentation.protocol import check_budgets, run_holdout
from bsqkit.experiments.segmentation.runner import run_segmentation_benchmark
from bsqkit.profiles import budget_count, load_profile, validate_profile

__all__ = [
    "METHODS",
    "budget_count",
    "check_budgets",
    "evaluate_subjects",
    "load_profile",
    "noise_floor",
    "run_holdout",
    "run_segmentation_benchmark",
    "train_encoder",
    "validate_profile",
]
