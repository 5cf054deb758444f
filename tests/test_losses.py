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
    logits, x = torch.randn(1, 4, 1, 3, 3), torch.rand(4, 1, 3, 3)  # one sample per image
    q = DiagonalGaussian(torch.randn(4, 2), torch.randn(4, 2))
    z = q.sample(n=1)
    loss, recon, kl = objective(logits, q, z, x, "bce", beta=2.0)
    assert torch.allclose(loss, (reconstruction(logits[0], x, "bce") + 2.0 * q.kl()).mean(), atol=1e-4)
    loss_ae, _, kl_ae = objective(logits, PointPosterior(torch.randn(4, 2)), z, x, "bce", 1.0)
    assert kl_ae.item() == 0.0


def test_elbo_objective_averages_the_reconstruction_over_samples():
    logits, x = torch.randn(3, 4, 1, 3, 3), torch.rand(4, 1, 3, 3)
    q = DiagonalGaussian(torch.randn(4, 2), torch.randn(4, 2))
    loss, recon, _ = objective(logits, q, q.sample(n=3), x, "bce", beta=1.0)
    per_sample = reconstruction(logits, x, "bce")  # (3, 4)
    assert per_sample.shape == (3, 4)
    assert torch.allclose(recon, per_sample.mean(0).sum(), atol=1e-4)
    assert torch.allclose(loss, per_sample.mean(0).mean() + q.kl().mean(), atol=1e-4)


def test_iwae_objective_is_the_log_mean_importance_weight_and_tighter_than_the_elbo():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 3, 3)
    q = DiagonalGaussian(torch.randn(5, 2), torch.randn(5, 2) - 1)
    z = q.sample(n=64)  # (64, 5, 2)
    logits = torch.randn(64, 5, 1, 3, 3) + z.sum(-1)[..., None, None, None]
    loss, _, _ = objective(logits, q, z, x, "bce", 1.0, bound="iwae")
    log_w = (-reconstruction(logits, x, "bce") - 0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
             - q.log_prob(z))
    expected = -(torch.logsumexp(log_w, 0) - math.log(64)).mean()
    assert torch.allclose(loss, expected, atol=1e-4)
    elbo_loss = -log_w.mean(0).mean()  # the same samples, averaged instead of log-mean-exp'd
    assert loss < elbo_loss  # Jensen: the k-sample bound is at least the ELBO
