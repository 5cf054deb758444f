"""The dlib backbone: disentanglement_lib's convolutional VAE, layer for layer, at any size that
fits its stride-2 levels, refused in one line where it does not."""

import pytest
import torch
import torch.nn.functional as F
from conftest import run_here
from torch import nn

from vaekit.models import build_model


def reference(c: int) -> tuple[nn.Module, nn.Module]:
    """The network as the literature writes it, in plain NCHW layers: 4x4 stride-2 convolutions of
    32, 32, 64, 64 with ReLU, 256 units; two dense layers and 4x4 stride-2 transposed convolutions."""
    enc = nn.Sequential(nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
                        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Conv2d(64, 64, 4, 2, 1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU())
    dec = nn.Sequential(nn.Linear(10, 256), nn.ReLU(), nn.Linear(256, 64 * 4 * 4), nn.ReLU(),
                        nn.Unflatten(1, (64, 4, 4)), nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(),
                        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1),
                        nn.ReLU(), nn.ConvTranspose2d(32, c, 4, 2, 1))
    return enc, dec


def _copy(src: nn.Module, dst: nn.Module) -> None:
    """Weights in module order: the two networks hold the same layers in the same order."""
    ours = [p for p in src.parameters()]
    theirs = [p for p in dst.parameters()]
    assert [tuple(p.shape) for p in ours] == [tuple(p.shape) for p in theirs]
    with torch.no_grad():
        for a, b in zip(ours, theirs, strict=True):
            b.copy_(a)


@pytest.mark.parametrize("c", [1, 3])
def test_the_literatures_network_layer_for_layer(c):
    torch.manual_seed(0)
    net = build_model(model="vae", backbone="dlib", image_shape=(c, 64, 64), latent_dim=10,
                      channels=[32, 32, 64, 64]).eval()
    enc, dec = reference(c)
    _copy(net.encoder, enc)
    _copy(net.decoder, dec)
    x, z = torch.rand(5, c, 64, 64), torch.randn(5, 10)
    with torch.no_grad():
        assert torch.allclose(net.encoder(x), enc(x), atol=1e-5)
        assert torch.allclose(net.decoder(z), dec(z), atol=1e-5)
    # the head: means and log-variances of the 10 latents from the 256 units
    assert net.head.in_features == 256 and net.head.out_features == 20


@pytest.mark.parametrize("shape,channels", [((1, 28, 28), [32, 32, 64, 64]), ((3, 25, 19), [4, 8, 8]),
                                            ((1, 10, 6), [4, 8])])
def test_odd_sizes_come_back_exactly(shape, channels):
    torch.manual_seed(0)
    net = build_model(model="vae", backbone="dlib", image_shape=shape, latent_dim=3, channels=channels,
                      dense_width=16)
    x = torch.rand(2, *shape)
    logits, q, _ = net(x)
    assert logits.shape == (1, 2, *shape) and q.mean.shape == (2, 3)
    # the pixels depend on the code: one step of training lowers the loss
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(2):
        loss = F.binary_cross_entropy_with_logits(net(x)[0][0], x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]


def test_an_image_too_small_for_its_levels_is_refused_in_one_line(tmp_path):
    out = tmp_path / "run"
    r = run_here("train", "--data", "mnist", "--backbone", "dlib", "--image-size", "8", "--out", str(out),
                 check=False)
    assert r.returncode == 2 and not out.exists()
    line = r.stderr.strip()
    assert "\n" not in line and "--image-size" in line and "16x16" in line and "'8x8'" in line
    # fewer levels fit: two need 4 pixels a side
    net = build_model(model="vae", backbone="dlib", image_shape=(1, 8, 8), latent_dim=2, channels=[4, 4])
    assert net(torch.rand(1, 1, 8, 8))[0].shape == (1, 1, 1, 8, 8)
