import pytest
import torch

from bsqkit.nets import MMDVAE, DCANLikeFCN, mmd


@pytest.mark.parametrize("hw", [(16, 16), (21, 19), (7, 33)])
def test_fcn_any_size_shapes_and_dtype(hw):
    net = DCANLikeFCN(in_channels=2, n_classes=3, width=4, depth=3).eval()
    out = net(torch.randn(2, 2, *hw))
    assert out.shape == (2, 3, *hw) and out.dtype == torch.float32
    feats = net.trunk(torch.randn(2, 2, *hw))
    assert len(feats) == 4 and feats[-1].shape[1] == 32


def _all_params_get_gradients(net, loss):
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_fcn_gradients_reach_every_layer():
    torch.manual_seed(0)
    net = DCANLikeFCN(width=4, depth=2, p_dropout=0.1).train()
    x, y = torch.randn(4, 1, 12, 12), torch.randint(0, 2, (4, 12, 12))
    _all_params_get_gradients(net, torch.nn.functional.cross_entropy(net(x), y))


@pytest.mark.parametrize("size", [28, 96])
def test_vae_shapes_and_gradients(size):
    torch.manual_seed(0)
    net = MMDVAE(input_size=size, n_latent=5, width=4)
    x = torch.randn(3, 1, size, size)
    recon, z = net(x)
    assert recon.shape == x.shape and z.shape == (3, 5)
    loss = torch.nn.functional.mse_loss(recon, x) + mmd(z, torch.randn_like(z))
    _all_params_get_gradients(net, loss)


@pytest.mark.parametrize("d", [5, 200])
def test_mmd_separates_shifted_samples(d):
    g = torch.Generator().manual_seed(d)
    a = torch.randn(256, d, generator=g)
    b = torch.randn(256, d, generator=g)
    shifted = torch.randn(256, d, generator=g) + 0.5
    same, different = mmd(a, b), mmd(a, shifted)
    assert different > 3 * same
    assert different > 1e-3  # the paper's sigma=1, unsquared kernel would be flat at d=200


def test_fcn_rejects_bad_configuration():
    with pytest.raises(ValueError, match="n_classes"):
        DCANLikeFCN(n_classes=1)
