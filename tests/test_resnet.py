"""The ResNet backbone at odd sizes and widths, with and without self-attention."""

import pytest
import torch

from vaekit.models import build_model
from vaekit.models.resnet import SelfAttention


@pytest.mark.parametrize("shape,channels", [((1, 28, 28), [8, 16]), ((3, 25, 19), [6, 12, 20]), ((3, 9, 64), [4])])
@pytest.mark.parametrize("attention", [False, True])
def test_any_size_and_width_comes_back_exactly(shape, channels, attention):
    torch.manual_seed(0)
    net = build_model(model="vae", backbone="resnet", image_shape=shape, latent_dim=5, channels=channels,
                      attention=attention)
    x = torch.rand(3, *shape)
    logits, q, z = net(x)
    assert logits.shape == (1, 3, *shape) and q.mean.shape == (3, 5)
    assert net.sample(2).shape == (2, *shape)


def test_attention_lets_every_position_see_every_other():
    torch.manual_seed(0)
    att = SelfAttention(8).eval()
    x = torch.randn(1, 8, 5, 5)
    y = x.clone()
    y[0, :, 4, 4] += 3.0  # change one corner
    with torch.no_grad():
        moved = (att(y) - att(x))[0, :, 0, 0].abs().max()  # the opposite corner answers
    assert moved > 1e-3
