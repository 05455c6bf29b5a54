"""Shared fixtures: real data location, small image pools, toy MC-dropout estimator."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$BSQKIT_DATA``, else ``../shared/data`` beside the repository; None if absent."""
    env = os.environ.get("BSQKIT_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(autouse=True)
def _thread_settings_stay():
    """The command line sets OMP_* for its own process (bsqkit.cli._calm_threads): a
    test that calls it leaves the environment of the next tests as it was."""
    saved = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def mnist_dir() -> Path:
    root = shared_data_dir()
    if root is None or not (root / "mnist").is_dir():
        if os.environ.get("BSQKIT_REQUIRE_DATA"):
            pytest.fail(f"BSQKIT_REQUIRE_DATA is set but no mnist/ under {root}")
        pytest.skip("real MNIST not available (set BSQKIT_DATA to ../shared/data)")
    return root / "mnist"


@pytest.fixture
def hippocampus_dir() -> Path:
    root = shared_data_dir()
    if root is None or not (root / "hippocampus" / "dataset.json").is_file():
        if os.environ.get("BSQKIT_REQUIRE_DATA"):
            pytest.fail(f"BSQKIT_REQUIRE_DATA is set but no hippocampus/ under {root}")
        pytest.skip("real hippocampus data not available (set BSQKIT_DATA)")
    return root / "hippocampus"


class ToyMCClassifier(ClassifierMixin, BaseEstimator):
    """A logistic regression whose inputs go through dropout: a tiny MC-dropout model.

    Implements bsqkit's ``predict_proba_mc`` (streaming, seeded) and ``image_descriptors``
    protocols on image arrays of any shape.
    """

    def __init__(self, p: float = 0.3, batch_size: int = 64):
        self.p = p
        self.batch_size = batch_size

    def fit(self, X, y):
        X = np.asarray(X, dtype=float).reshape(len(X), -1)
        self.clf_ = LogisticRegression(max_iter=300).fit(X, y)
        self.classes_ = self.clf_.classes_
        return self

    def predict_proba(self, X):
        return self.clf_.predict_proba(np.asarray(X, dtype=float).reshape(len(X), -1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_proba_mc(self, X, *, n_mc, random_state=None):
        rng = np.random.RandomState(random_state)
        X = np.asarray(X, dtype=float).reshape(len(X), -1)
        for start in range(0, len(X), self.batch_size):
            batch = X[start : start + self.batch_size]
            keep = rng.random_sample((n_mc, *batch.shape)) > self.p
            dropped = batch * keep / (1 - self.p)
            yield np.stack([self.clf_.predict_proba(d) for d in dropped])

    def image_descriptors(self, X):
        return self.clf_.decision_function(np.asarray(X, dtype=float).reshape(len(X), -1))


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).reshape(-1, 8, 8), y


@pytest.fixture
def pool_setup(digits):
    """Image pool (n, 8, 8), labeled set of 40 and a fitted MC estimator."""
    X, y = digits
    X_labeled, y_labeled = X[:40], y[:40]
    X_pool = X[40:400]
    estimator = ToyMCClassifier().fit(X_labeled, y_labeled)
    return X_pool, X_labeled, y_labeled, estimator
