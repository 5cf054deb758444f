"""Known-answer tests of the loss terms."""

import math

import torch
import torch.nn.functional as F

from vaekit.models import DiagonalGaussian, build_model
from vaekit.objectives import Batch
from vaekit.objectives.elbo import elbo, iwae
from vaekit.objectives.losses import reconstruction, reconstruction_sum
from vaekit.settings import TrainConfig


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


def _net_and_images(k: int = 1, beta: float = 1.0):
    net = build_model(image_shape=(1, 3, 3), latent_dim=2, hidden=[4])
    x = torch.rand(4, 1, 3, 3)
    return net, x, TrainConfig(k=k, loss="bce", beta=beta)  # what a run passes its objective


def test_elbo_is_the_mean_of_recon_plus_beta_kl():
    net, x, s = _net_and_images(beta=2.0)
    torch.manual_seed(0)
    terms = elbo(net, Batch(x, x), s)
    torch.manual_seed(0)
    logits, q, _ = net(x)
    expected = (reconstruction(logits[0], x, "bce") + 2.0 * q.kl()).mean()
    assert torch.allclose(terms["loss"], expected, atol=1e-4)
    assert torch.allclose(terms["kl"], q.kl().mean(), atol=1e-5)
    ae = build_model(model="ae", image_shape=(1, 3, 3), latent_dim=2, hidden=[4])
    assert elbo(ae, Batch(x, x), s)["kl"].item() == 0.0


def test_elbo_averages_the_reconstruction_over_samples():
    net, x, s = _net_and_images(k=3)
    torch.manual_seed(0)
    terms = elbo(net, Batch(x, x), s)
    torch.manual_seed(0)
    logits, q, _ = net(x, samples=3)
    per_sample = reconstruction(logits, x, "bce")  # (3, 4)
    assert per_sample.shape == (3, 4)
    assert torch.allclose(terms["recon"], per_sample.mean(0).mean(), atol=1e-4)
    assert torch.allclose(terms["loss"], per_sample.mean(0).mean() + q.kl().mean(), atol=1e-4)


def test_iwae_is_the_log_mean_importance_weight_and_tighter_than_the_elbo():
    net, x, s = _net_and_images(k=64)
    torch.manual_seed(0)
    loss = iwae(net, Batch(x, x), s)["loss"]
    torch.manual_seed(0)
    logits, q, z = net(x, samples=64)
    log_w = (-reconstruction(logits, x, "bce") - 0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
             - q.log_prob(z))
    expected = -(torch.logsumexp(log_w, 0) - math.log(64)).mean()
    assert torch.allclose(loss, expected, atol=1e-4)
    elbo_loss = -log_w.mean(0).mean()  # the same samples, averaged instead of log-mean-exp'd
    assert loss < elbo_loss  # Jensen: the k-sample bound is at least the ELBO


def test_objective_rules_name_the_setting():
    import pytest

    from vaekit.errors import SettingError
    from vaekit.settings import TrainConfig

    for bad, setting in [({"model": "ae"}, "model"), ({"loss": "mse"}, "loss"), ({"beta": 2.0}, "beta")]:
        with pytest.raises(SettingError) as e:
            TrainConfig(objective="iwae", **bad)
        assert e.value.setting == setting and str(e.value).startswith(f"{setting}: ")
