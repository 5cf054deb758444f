"""Known-answer tests of the loss terms."""

import math

import torch
import torch.nn.functional as F

from vaekit.losses import objective, reconstruction, reconstruction_sum
from vaekit.models import DiagonalGaussian, PointPosterior


def test_bce_on_logits_matches_bce_of_sigmoid():
    logits, x = torch.randn(4, 1, 5, 5), torch.rand(4, 1, 5, 5)
    expected = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1)
    assert torch.allclose(reconstruction(logits, x, "bce"), expected, atol=1e-4)
    assert torch.allclose(reconstruction_sum(logits, x, "bce"), expected.sum(), atol=1e-3)


def test_mse_is_summed_squared_error_per_image():
    logits, x = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    assert torch.allclose(reconstruction(logits, x, "mse"), torch.full((2,), 4 * 0.25))


def test_kl_known_values():
    q = DiagonalGaussian(torch.zeros(1, 3), torch.zeros(1, 3))
    assert q.kl().item() == 0.0
    # KL(N(1, e^2) || N(0, 1)) = 0.5 * (1 + e^2 - 1 - 2) per dim
    q = DiagonalGaussian(torch.ones(1, 1), torch.full((1, 1), 2.0))
    assert math.isclose(q.kl().item(), 0.5 * (1 + math.exp(2) - 1 - 2), rel_tol=1e-6)


def test_kl_matches_monte_carlo():
    torch.manual_seed(0)
    q = DiagonalGaussian(torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]]))
    z = q.mean + torch.randn(200_000, 2) * q.std
    log_p = -0.5 * (z**2 + math.log(2 * math.pi)).sum(1)
    mc = (q.log_prob(z) - log_p).mean()
    assert abs(mc.item() - q.kl().item()) < 0.02


def test_objective_is_mean_of_recon_plus_beta_kl():
    logits, x = torch.randn(4, 1, 3, 3), torch.rand(4, 1, 3, 3)
    q = DiagonalGaussian(torch.randn(4, 2), torch.randn(4, 2))
    loss, recon, kl = objective(logits, q, x, "bce", beta=2.0)
    assert torch.allclose(loss, (reconstruction(logits, x, "bce") + 2.0 * q.kl()).mean(), atol=1e-4)
    loss_ae, _, kl_ae = objective(logits, PointPosterior(torch.randn(4, 2)), x, "bce", 1.0)
    assert kl_ae.item() == 0.0
