import numpy as np
import pytest
import torch
from scipy.stats import entropy

from bsqkit.functional import mc_dropout_variance, predictive_entropy


def _reference_eq2(mc):
    # paper Eq. 2 with explicit loops: per class the spatial mean of per-pixel variances,
    # then the mean over classes
    n_mc, n, c = mc.shape[:3]
    out = np.zeros(n)
    for i in range(n):
        per_class = []
        for k in range(c):
            pixels = mc[:, i, k].reshape(n_mc, -1)
            per_class.append(np.mean([np.var(pixels[:, p]) for p in range(pixels.shape[1])]))
        out[i] = np.mean(per_class)
    return out


def test_mc_dropout_variance_matches_reference_on_segmentation_maps():
    rng = np.random.RandomState(0)
    logits = rng.normal(size=(5, 3, 4, 6, 7))
    mc = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    np.testing.assert_allclose(mc_dropout_variance(mc), _reference_eq2(mc), rtol=1e-10)


def test_mc_dropout_variance_on_torch_float32_and_classifier_shapes():
    rng = np.random.RandomState(1)
    mc = rng.dirichlet(np.ones(4), size=(6, 10))  # (n_mc, n, classes)
    got = mc_dropout_variance(torch.as_tensor(mc, dtype=torch.float32))
    assert got.dtype == np.float64 and got.shape == (10,)
    np.testing.assert_allclose(got, _reference_eq2(mc), rtol=1e-5)


@pytest.mark.parametrize("order", [(0, 1, 2, 3, 4), (1, 3, 4, 0, 2), (4, 2, 0, 3, 1)])
def test_mc_dropout_variance_any_memory_layout_input_untouched(order):
    # the MC head's probabilities are a permuted view (channels-last in memory); the
    # reduction runs in memory order and must give Eq. 2 for any layout
    rng = np.random.RandomState(2)
    mc = rng.dirichlet(np.ones(3), size=(4, 3, 5, 6)).transpose(0, 1, 4, 2, 3)
    stored = torch.as_tensor(np.ascontiguousarray(mc.transpose(order)))
    view = stored.permute(tuple(np.argsort(order)))
    assert tuple(view.shape) == mc.shape
    before = view.clone()
    np.testing.assert_allclose(mc_dropout_variance(view), _reference_eq2(mc), rtol=1e-10)
    assert torch.equal(view, before)


@pytest.mark.parametrize("dim", [0, 2, -1])
def test_softmax_in_place_matches_torch_for_any_layout(dim):
    from bsqkit.functional.uncertainty import softmax_

    logits = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(0)) * 30
    logits[0, 0, 0, 0] = 1e4  # exp would overflow without the max subtracted
    for view in (logits.clone(), logits.permute(3, 1, 0, 2).contiguous().permute(2, 1, 3, 0)):
        expected = torch.softmax(view, dim)
        out = softmax_(view, dim)
        assert out is view and torch.isfinite(out).all()
        torch.testing.assert_close(out, expected)


def test_identical_passes_have_zero_variance():
    mc = np.tile(np.full((1, 2, 3, 4, 4), 1 / 3), (5, 1, 1, 1, 1))
    np.testing.assert_array_equal(mc_dropout_variance(mc), 0.0)


def test_mc_dropout_variance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="n_mc"):
        mc_dropout_variance(np.ones((4, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        mc_dropout_variance(np.ones((1, 3, 2)))


def test_predictive_entropy_matches_scipy():
    p = np.random.RandomState(2).dirichlet(np.ones(5), size=20)
    np.testing.assert_allclose(predictive_entropy(p), entropy(p, axis=1))
    maps = np.random.RandomState(3).dirichlet(np.ones(3), size=(2, 4, 4)).transpose(0, 3, 1, 2)
    expected = entropy(maps, axis=1).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(predictive_entropy(maps), expected)
