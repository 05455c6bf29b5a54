"""A short active-learning run on scikit-learn's digits: the embedded quick start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from bsqkit.learner import ActiveLearner
from bsqkit.query import BayesianSampleQuery, CoreSetQuery, RandomQuery, UncertaintyQuery

__all__ = ["DEFAULT_METHODS", "DigitsConfig", "run_digits_curve"]


def _methods(n_latent: int, n_uncertain: int) -> dict[str, Callable[[int], Any]]:
    return {
        "Random": lambda seed: RandomQuery(random_state=seed),
        "Uncertainty": lambda seed: UncertaintyQuery(random_state=seed),
        "CoreSet": lambda seed: CoreSetQuery(encoder=PCA(n_latent), random_state=seed),
        "BSQ top": lambda seed: BayesianSampleQuery(encoder=PCA(n_latent), random_state=seed),
        "BSQ greedy": lambda seed: BayesianSampleQuery(
            encoder=PCA(n_latent), batch_mode="greedy", random_state=seed
        ),
        # the paper's combination: the most uncertain first, then the best BSQ scores
        "BSQ top + uncertainty": lambda seed: BayesianSampleQuery(
            encoder=PCA(n_latent), n_uncertain=n_uncertain, random_state=seed
        ),
    }


DEFAULT_METHODS = (
    "Random",
    "Uncertainty",
    "CoreSet",
    "BSQ top",
    "BSQ greedy",
    "BSQ top + uncertainty",
)


@dataclass
class DigitsConfig:
    """Settings of the digits run (every number lives here, not in the code).

    Parameters
    ----------
    n_init : int, default=10
        Initial random annotated set, the same for every method of a seed.
    n_instances : int, default=10
        Batch size of each query.
    n_iterations : int, default=15
        Queries per run; the curve has ``n_iterations + 1`` points, the first before any
        query.
    seeds : tuple of int, default=(0, 1, 2, 3, 4)
        One run per seed (train/test split, initial set, strategies).
    test_size : float, default=0.3
        Fraction of the digits held out (stratified by class) to measure accuracy.
    n_latent : int, default=8
        PCA components used as the representation space of BSQ and CoreSet.
    n_uncertain : int, default=40
        Uncertainty shortlist of the BSQ variants that use one.
    methods : tuple of str
        Any of ``"Random"``, ``"Uncertainty"``, ``"CoreSet"``, ``"BSQ top"`` (the paper's
        batch mode, representativeness alone), ``"BSQ greedy"`` (the annotated Gaussian
        refitted after each pick) and ``"BSQ top + uncertainty"`` (the paper's FCN_BSQ:
        the ``n_uncertain`` most uncertain first).

    Examples
    --------
    >>> from bsqkit.experiments import DigitsConfig, run_digits_curve
    >>> config = DigitsConfig(n_iterations=2, seeds=(0,), methods=("Random", "CoreSet"))
    >>> records = run_digits_curve(config, progress=False)
    >>> sorted({r["method"] for r in records}), sorted({r["n_labeled"] for r in records})
    (['CoreSet', 'Random'], [10, 20, 30])
    """

    n_init: int = 10
    n_instances: int = 10
    n_iterations: int = 15
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    test_size: float = 0.3
    n_latent: int = 8
    n_uncertain: int = 40
    methods: tuple[str, ...] = field(default=DEFAULT_METHODS)


def run_digits_curve(config: DigitsConfig | None = None, progress: bool = True) -> list[dict]:
    """Learning curves of several strategies on digits, same initial sets per seed.

    A logistic regression is retrained on the annotated set after each batch; accuracy is
    measured on a held-out test split. Every method of a seed starts from the same
    random initial set.

    Parameters
    ----------
    config : DigitsConfig, optional
        The run's settings; None: the defaults of :class:`DigitsConfig`.
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    list of dict
        One record per (method, seed, iteration): ``n_labeled`` and ``accuracy``.

    Examples
    --------
    >>> from bsqkit.experiments import DigitsConfig, run_digits_curve
    >>> config = DigitsConfig(n_iterations=1, seeds=(0,), methods=("Random",))
    >>> records = run_digits_curve(config, progress=False)
    >>> [(r["n_labeled"], round(r["accuracy"], 2) > 0.1) for r in records]
    [(10, True), (20, True)]
    """
    config = config or DigitsConfig()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    factories = _methods(config.n_latent, config.n_uncertain)
    unknown = set(config.methods) - set(factories)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {sorted(factories)}")
    records = []
    total = len(config.seeds) * len(config.methods)
    bar = tqdm(total=total, desc="digits", disable=not progress)
    for seed in config.seeds:
        X_pool, X_test, y_pool, y_test = train_test_split(
            X, y, test_size=config.test_size, random_state=seed, stratify=y
        )
        init = np.random.RandomState(seed).choice(len(X_pool), config.n_init, replace=False)
        for method in config.methods:
            unlabeled = np.setdiff1d(np.arange(len(X_pool)), init)
            learner = ActiveLearner(
                LogisticRegression(max_iter=1000),
                factories[method](seed),
                X_training=X_pool[init],
                y_training=y_pool[init],
            )
            for iteration in range(config.n_iterations + 1):
                records.append(
                    {
                        "method": method,
                        "seed": seed,
                        "iteration": iteration,
                        "n_labeled": len(learner.X_training),
                        "accuracy": float(learner.score(X_test, y_test)),
                    }
                )
                if iteration == config.n_iterations:
                    break
                idx, X_query = learner.query(X_pool[unlabeled], n_instances=config.n_instances)
                learner.teach(X_query, y_pool[unlabeled[idx]])
                unlabeled = np.delete(unlabeled, idx)
            bar.update()
    bar.close()
    return records
