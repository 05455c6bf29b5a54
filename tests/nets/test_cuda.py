"""GPU paths (run where CUDA is available; skipped elsewhere)."""

import numpy as np
import pytest
import torch

from bsqkit import BayesianSampleQuery
from bsqkit.nets import MMDVAEEncoder, NeuralNetSegmenter
from bsqkit.query import estimate_uncertainty

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _data(n=40, size=32, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, size, size).astype(np.float32)
    return X, (X > 0.6).astype(np.int64) + (X > 0.9)


def test_segmenter_on_cuda_matches_cpu_path():
    X, y = _data()
    kw = dict(n_classes=3, max_steps=30, module__width=8, progress_bar=False, random_state=0)
    gpu = NeuralNetSegmenter(device="cuda", **kw).fit(X, y)
    assert next(gpu.module_.parameters()).is_cuda
    batches = list(gpu.predict_proba_mc(X, n_mc=5, random_state=1))
    assert batches[0].is_cuda and batches[0].shape[:3] == (5, 8, 3)
    u1 = estimate_uncertainty(gpu, X, n_mc=5, random_state=1)
    u2 = estimate_uncertainty(gpu, X, n_mc=5, random_state=1)
    np.testing.assert_array_equal(u1, u2)
    assert (u1 > 0).all()
    # the same weights on the CPU give the same deterministic predictions
    cpu = NeuralNetSegmenter(device="cpu", **kw).initialize()
    cpu.module_.load_state_dict({k: v.cpu() for k, v in gpu.module_.state_dict().items()})
    np.testing.assert_allclose(cpu.predict_proba(X), gpu.predict_proba(X), atol=1e-4)
    # MC uncertainty agrees in distribution between devices (different dropout masks)
    u_cpu = estimate_uncertainty(cpu, X, n_mc=17, random_state=1)
    u_gpu = estimate_uncertainty(gpu, X, n_mc=17, random_state=1)
    assert abs(np.median(u_cpu) / np.median(u_gpu) - 1) < 0.3
    assert gpu.image_descriptors(X).shape == (40, 64)


def test_mc_memory_flat_in_pool_size_on_cuda():
    X, y = _data(n=8, size=96)
    seg = NeuralNetSegmenter(
        n_classes=5, max_steps=2, device="cuda", progress_bar=False, module__width=8
    ).fit(X, y)
    peaks = []
    for n in (1000, 4000):
        pool = np.random.RandomState(n).rand(n, 96, 96).astype(np.float32)
        torch.cuda.reset_peak_memory_stats()
        estimate_uncertainty(seg, pool, n_mc=17, random_state=0)
        peaks.append(torch.cuda.max_memory_allocated())
    assert peaks[1] < 1.1 * peaks[0], peaks


def test_encoder_and_bsq_on_cuda():
    X, _ = _data(n=64, size=28)
    enc = MMDVAEEncoder(
        n_latent=5,
        input_size=28,
        max_epochs=2,
        lr=1e-3,
        device="cuda",
        progress_bar=False,
        module__width=8,
        random_state=0,
    ).fit(X)
    codes = enc.transform(X)
    assert codes.shape == (64, 5) and codes.dtype == np.float64
    np.testing.assert_array_equal(codes, enc.transform(X))
    idx, scores = BayesianSampleQuery(encoder=enc, n_instances=4).query(X[8:], X_labeled=X[:8])
    assert len(set(idx.tolist())) == 4 and np.isfinite(scores).all()


def test_selections_on_cuda_pick_what_the_cpu_picks():
    from bsqkit.functional import greedy_max_cover, k_center_greedy

    rng = np.random.RandomState(0)
    population = rng.normal(size=(5000, 16))
    cand = population[rng.choice(5000, 64, replace=False)]
    cpu = greedy_max_cover(cand, population, 16, device="cpu")
    gpu = greedy_max_cover(cand, population, 16, device="cuda")
    np.testing.assert_array_equal(gpu[0], cpu[0])
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-4)
    cpu = k_center_greedy(population, population[:10], 16, device="cpu")
    gpu = k_center_greedy(population, population[:10], 16, device="cuda")
    np.testing.assert_array_equal(gpu[0], cpu[0])
    np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-9)
