import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from bsqkit import ActiveLearner, BayesianSampleQuery
from bsqkit.datasets import load_mnist
from bsqkit.nets import MMDVAEEncoder

SMALL = dict(module__width=4, progress_bar=False, random_state=0)


def test_transform_shapes_determinism_and_inverse():
    X = np.random.RandomState(0).rand(20, 17, 23).astype(np.float32)  # any size in
    enc = MMDVAEEncoder(n_latent=4, input_size=28, max_epochs=1, **SMALL).fit(X)
    codes = enc.transform(X)
    assert codes.shape == (20, 4) and codes.dtype == np.float64
    np.testing.assert_array_equal(codes, enc.transform(X))
    assert enc.inverse_transform(codes[:3]).shape == (3, 28, 28)
    with pytest.raises(ValueError, match="n_latent"):
        enc.inverse_transform(np.zeros((2, 5)))
    pre = enc.preprocess(X)
    np.testing.assert_allclose(pre.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(pre.std(axis=(1, 2, 3)), 1, atol=1e-2)


def test_losses_reported_per_epoch():
    X = np.random.RandomState(1).rand(32, 28, 28).astype(np.float32)
    enc = MMDVAEEncoder(n_latent=3, input_size=28, max_epochs=2, **SMALL).fit(X)
    assert len(enc.history[:, "train_recon"]) == 2
    assert all(np.isfinite(enc.history[:, "train_mmd"]))


def test_reproducible_and_round_trips(tmp_path):
    X = np.random.RandomState(2).rand(24, 28, 28).astype(np.float32)
    a = MMDVAEEncoder(n_latent=3, input_size=28, max_epochs=1, **SMALL).fit(X)
    b = MMDVAEEncoder(n_latent=3, input_size=28, max_epochs=1, **SMALL).fit(X)
    np.testing.assert_allclose(a.transform(X), b.transform(X), atol=1e-6)
    c = clone(a).set_params(module__width=6)
    assert not c.initialized_ and c.get_params()["module__width"] == 6
    np.testing.assert_allclose(pickle.loads(pickle.dumps(a)).transform(X), a.transform(X))
    a.save_params(f_params=tmp_path / "vae.pt")
    d = clone(a).initialize()
    d.load_params(f_params=tmp_path / "vae.pt")
    np.testing.assert_allclose(d.transform(X), a.transform(X), atol=1e-6)


def test_grid_search_in_a_pipeline():
    X, y = load_digits(return_X_y=True)
    X = X[:120].reshape(-1, 8, 8).astype(np.float32)
    pipe = make_pipeline(
        MMDVAEEncoder(input_size=8, max_epochs=1, module__n_blocks=3, **SMALL),
        LogisticRegression(max_iter=200),
    )
    grid = GridSearchCV(pipe, {"mmdvaeencoder__n_latent": [2, 4]}, cv=2).fit(X, y[:120])
    assert grid.best_params_["mmdvaeencoder__n_latent"] in (2, 4)


def test_bsq_with_mmdvae_encoder_in_a_learner():
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8).astype(np.float32)
    strategy = BayesianSampleQuery(
        encoder=MMDVAEEncoder(n_latent=3, input_size=8, max_epochs=1, module__n_blocks=3, **SMALL),
        n_instances=5,
    )
    learner = ActiveLearner(
        make_pipeline(LogisticRegression(max_iter=200)), strategy, X[:20].reshape(20, -1), y[:20]
    )
    # the learner's estimator takes flat vectors; the strategy's encoder takes images
    pool = X[20:300]
    idx, scores = strategy.query(pool, X_labeled=X[:20])
    assert len(set(idx.tolist())) == 5 and np.isfinite(scores).all()
    assert strategy.encoder_.initialized_
    learner.teach(pool[idx].reshape(5, -1), y[20:300][idx])


@pytest.mark.slow
def test_reconstruction_falls_on_real_mnist(mnist_dir):
    X, _ = load_mnist(mnist_dir, "train")
    enc = MMDVAEEncoder(
        n_latent=5,
        input_size=28,
        max_epochs=4,
        lr=1e-3,
        batch_size=64,
        module__width=8,
        progress_bar=False,
        random_state=0,
    ).fit(X[:3000])
    recon = enc.history[:, "train_recon"]
    assert recon[-1] < 0.8 * recon[0], recon


def test_the_mmd_term_pulls_codes_towards_the_prior_in_training():
    import torch

    from bsqkit.nets import mmd

    X = np.random.RandomState(0).rand(256, 16, 16).astype(np.float32)
    X[:128] += np.linspace(0, 3, 16)[None, None, :]  # two kinds of images
    prior = torch.randn(256, 8, generator=torch.Generator().manual_seed(1))
    distance = {}
    for weight in (0.0, 50.0):
        enc = MMDVAEEncoder(
            n_latent=8,
            input_size=16,
            module__n_blocks=2,
            module__width=8,
            max_epochs=15,
            lr=3e-3,
            mmd_weight=weight,
            progress_bar=False,
            random_state=0,
        ).fit(X)
        codes = torch.as_tensor(enc.transform(X), dtype=torch.float32)
        distance[weight] = float(mmd(codes, prior))
        if weight:
            history = enc.history[:, "train_mmd"]
            assert np.mean(history[-3:]) < 0.5 * np.mean(history[:3])  # falls in training
            assert abs(float(codes.mean())) < 0.3 and 0.7 < float(codes.std()) < 1.4
    assert distance[50.0] < 0.2 * distance[0.0]


def test_unfitted_encoder_raises_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    X = np.zeros((2, 16, 16), np.float32)
    enc = MMDVAEEncoder(n_latent=3, input_size=16)
    for call in (lambda: enc.transform(X), lambda: enc.inverse_transform(np.zeros((1, 3)))):
        with pytest.raises(NotFittedError, match="MMDVAEEncoder") as info:
            call()
        assert type(info.value) is NotFittedError
