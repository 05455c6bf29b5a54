"""An active-learning loop on real MNIST (skipped when ../shared/data is absent)."""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bsqkit import ActiveLearner, BayesianSampleQuery, RandomQuery
from bsqkit.datasets import load_mnist


def test_bsq_loop_on_real_mnist(mnist_dir):
    X_train, y_train = load_mnist(mnist_dir, "train")
    X_test, y_test = load_mnist(mnist_dir, "test")
    assert X_train.shape == (60000, 28, 28) and X_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist()[:3] == [5923, 6742, 5958]
    rng = np.random.RandomState(0)
    pool = rng.choice(60000, 3000, replace=False)
    X_pool = X_train[pool].reshape(3000, -1) / 255.0
    y_pool = y_train[pool]
    X_eval = X_test[:2000].reshape(2000, -1) / 255.0
    init = np.arange(20)
    results = {}
    for name, strategy in {
        "bsq": BayesianSampleQuery(
            encoder=PCA(10), n_uncertain=200, batch_mode="greedy", random_state=0
        ),
        "random": RandomQuery(random_state=0),
    }.items():
        learner = ActiveLearner(
            LogisticRegression(max_iter=300), strategy, X_pool[init], y_pool[init]
        )
        unlabeled = np.arange(20, 3000)
        start = learner.score(X_eval, y_test[:2000])
        for _ in range(4):
            idx, X_query = learner.query(X_pool[unlabeled], n_instances=20)
            assert len(np.unique(idx)) == 20
            learner.teach(X_query, y_pool[unlabeled[idx]])
            unlabeled = np.delete(unlabeled, idx)
        results[name] = learner.score(X_eval, y_test[:2000])
        assert len(learner.X_training) == 100
        assert results[name] > start + 0.05  # 80 more labels must help a lot from 20
    assert min(results.values()) > 0.6
