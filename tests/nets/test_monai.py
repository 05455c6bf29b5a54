"""A MONAI network with dropout as the segmenter: the generic MC-dropout path."""

import os

import numpy as np
import pytest
import torch

from bsqkit import BayesianSampleQuery, UncertaintyQuery
from bsqkit.nets import NeuralNetSegmenter

if os.environ.get("BSQKIT_REQUIRE_MONAI"):
    import monai  # noqa: F401  (CI installs the monai extra: the tests must run)
monai_nets = pytest.importorskip("monai.networks.nets")


def _unet_segmenter(**kw):
    return NeuralNetSegmenter(
        module=monai_nets.UNet,
        n_classes=3,
        module__spatial_dims=2,
        module__in_channels=1,
        module__out_channels=3,
        module__channels=(8, 16, 32),
        module__strides=(2, 2),
        module__num_res_units=1,
        module__dropout=0.3,
        module__norm="batch",
        progress_bar=False,
        random_state=0,
        **kw,
    )


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.rand(24, 32, 32).astype(np.float32)
    y = (X > 0.4).astype(np.int64) + (X > 0.8)
    return _unet_segmenter(max_steps=20).fit(X, y), X


def test_monai_unet_trains_predicts_and_samples_mc_dropout(fitted):
    seg, X = fitted
    assert isinstance(seg.module_, monai_nets.UNet)
    assert seg.predict(X).shape == X.shape and seg.predict_proba(X).shape == (24, 3, 32, 32)
    before = {k: v.clone() for k, v in seg.module_.state_dict().items()}
    modes = [m.training for m in seg.module_.modules()]
    a = torch.cat(list(seg.predict_proba_mc(X, n_mc=5, random_state=1)), dim=1)
    b = torch.cat(list(seg.predict_proba_mc(X, n_mc=5, random_state=1)), dim=1)
    assert a.shape == (5, 24, 3, 32, 32) and a.var(dim=0).mean() > 0  # dropout active
    torch.testing.assert_close(a, b)  # reproducible
    for k, v in seg.module_.state_dict().items():  # batch norm statistics untouched
        torch.testing.assert_close(v, before[k], msg=k)
    assert [m.training for m in seg.module_.modules()] == modes
    # only the dropout modules are stochastic: with them off, every pass is predict_proba
    for m in seg.module_.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    try:
        still = torch.cat(list(seg.predict_proba_mc(X, n_mc=3, random_state=2)), dim=1)
    finally:
        for m in seg.module_.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.3
    np.testing.assert_allclose(still[0].numpy(), seg.predict_proba(X), atol=1e-5)
    torch.testing.assert_close(still[0], still[2])


def test_monai_unet_in_a_query(fitted):
    from sklearn.decomposition import PCA

    seg, X = fitted
    idx, scores = UncertaintyQuery(n_mc=4, n_instances=3, random_state=0).query(X, estimator=seg)
    assert len(set(idx.tolist())) == 3 and np.all(np.diff(scores) <= 0)
    bsq = BayesianSampleQuery(encoder=PCA(4), n_uncertain=8, n_mc=4, n_instances=3)
    assert bsq.query(X[6:], estimator=seg, X_labeled=X[:6])[0].shape == (3,)


def test_bsqkit_options_are_not_forced_on_a_foreign_module():
    with pytest.raises(ValueError, match="dropout placement"):
        _unet_segmenter(max_steps=1, dropout="blocks").initialize()
