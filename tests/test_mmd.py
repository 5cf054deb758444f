"""The MMD objective's known answers: the discrepancy of a sample with itself is 0 and grows
with a shift, for both kernels; trained with it, codes are pulled towards the prior."""

import pytest
import torch

from vaekit.models import build_model
from vaekit.objectives import OBJECTIVES, Batch
from vaekit.objectives.mmd import KERNELS, mmd2


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_mmd_is_zero_for_one_sample_and_grows_with_a_shift(kernel):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(800, 4, generator=g)
    assert mmd2(x, x, kernel, unbiased=False) == pytest.approx(0.0, abs=1e-6)
    same = mmd2(x, torch.randn(800, 4, generator=g), kernel)  # another sample of N(0, I)
    assert abs(float(same)) < 2e-3
    shifted = [float(mmd2(x, torch.randn(800, 4, generator=g) + shift, kernel)) for shift in (0.25, 0.5, 1.0, 2.0)]
    assert shifted == sorted(shifted) and shifted[0] > 5 * abs(float(same))


def test_mmd_gradients_are_finite_at_zero_distance():
    x = torch.randn(16, 3, requires_grad=True)
    mmd2(x, x.detach().clone(), "imq").backward()
    assert torch.isfinite(x.grad).all()


def test_the_mmd_objective_pulls_an_autoencoders_codes_towards_the_prior():
    """An AE has no KL; with the MMD term alone, a few hundred steps on codes that start far
    from N(0, I) bring their mean and spread towards it."""
    torch.manual_seed(0)
    net = build_model(model="ae", image_shape=(1, 8, 8), latent_dim=2, hidden=[32])
    with torch.no_grad():
        net.head.bias += 6.0  # codes start around (6, 6)
    settings = type("S", (), {"loss": "bce", "beta": 0.0, "mmd_weight": 100.0, "mmd_kernel": "imq", "k": 1})()
    x = torch.rand(128, 1, 8, 8)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    first = OBJECTIVES["mmd"].fn(net, Batch(x, x), settings)
    for _ in range(300):
        terms = OBJECTIVES["mmd"].fn(net, Batch(x, x), settings)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    codes = net.encode(x).mode().detach()
    assert float(terms["mmd"]) < 0.1 * float(first["mmd"])
    assert codes.mean(0).abs().max() < 0.5 and 0.5 < float(codes.std(0).mean()) < 1.5
    assert set(terms) == {"loss", "recon", "kl", "mmd"} and float(terms["kl"]) == 0.0
