"""The beta-TCVAE's KL decomposition: known answers, and the objective on the registry."""

import torch

from vaekit.errors import SettingError
from vaekit.models import build_model
from vaekit.models.priors import StandardNormal
from vaekit.objectives import OBJECTIVES, Batch
from vaekit.objectives.tcvae import kl_decomposition
from vaekit.settings import TrainConfig


def _parts(mean, logvar, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = mean + torch.randn(mean.shape, generator=g) * (0.5 * logvar).exp()
    return z, kl_decomposition(z, mean, logvar, len(mean), StandardNormal().log_prob(z))


def test_independent_dimensions_have_no_total_correlation():
    # wide posteriors around means drawn independently per dimension: q(z) ~ N(0, 1.01 I), a
    # product of its marginals
    g = torch.Generator().manual_seed(1)
    mean = 0.1 * torch.randn(2000, 3, generator=g)
    _, parts = _parts(mean, torch.zeros(2000, 3))
    assert abs(float(parts["tc"])) < 0.02
    # the true MI is 3 * 0.5 log(1 + 0.1^2) = 0.015 nats; q(z) ~ p(z), so the dimension-wise KL is ~0 too
    assert abs(float(parts["mi"])) < 0.05 and abs(float(parts["dwkl"])) < 0.05


def test_codes_on_a_line_have_total_correlation_and_the_parts_sum_to_the_kl():
    g = torch.Generator().manual_seed(2)
    t = 2 * torch.randn(2000, 1, generator=g)
    mean, logvar = torch.cat([t, t], 1), torch.full((2000, 2), 2 * torch.log(torch.tensor(0.2)))
    z, parts = _parts(mean, logvar)
    # codes along z1 = z2 with spread 2 and noise 0.2: the two dimensions share about
    # log(2 / 0.2 / sqrt(2)) ~ 2 nats of information
    assert 1.2 < float(parts["tc"]) < 2.6
    log_q = (-0.5 * ((z - mean).pow(2) / logvar.exp() + logvar + torch.log(torch.tensor(2 * torch.pi)))).sum(1)
    kl_estimate = (log_q - StandardNormal().log_prob(z)).mean()
    torch.testing.assert_close(parts["mi"] + parts["tc"] + parts["dwkl"], kl_estimate, rtol=1e-5, atol=1e-4)
    assert float(parts["mi"]) > 0


def test_the_tcvae_objective_weighs_the_total_correlation():
    torch.manual_seed(0)
    net = build_model(model="vae", image_shape=(1, 8, 8), latent_dim=3, hidden=[16])
    x = torch.rand(32, 1, 8, 8)
    s = TrainConfig(objective="tcvae")
    torch.manual_seed(1)
    terms = OBJECTIVES["tcvae"].fn(net, Batch(x, x, dataset_size=1000), s)
    assert {"loss", "recon", "kl", "mi", "tc", "dwkl"} <= set(terms)
    torch.manual_seed(1)
    heavier = OBJECTIVES["tcvae"].fn(net, Batch(x, x, dataset_size=1000), TrainConfig(objective="tcvae", tc_weight=16))
    torch.testing.assert_close(heavier["loss"] - terms["loss"], 10 * terms["tc"])
    for bad in ({"model": "ae"}, {"k": 2}, {"free_bits": 1.0}):
        try:
            TrainConfig(objective="tcvae", **bad)
        except SettingError:
            continue
        raise AssertionError(f"tcvae accepted {bad}")


def test_a_tcvae_run_is_evaluated_under_the_elbo_beside_its_own_terms():
    # the ELBO section swaps the objective: the tcvae's own tc_weight must not come along
    from vaekit.datasets import ImageSet
    from vaekit.tasks.evaluation import _objective_terms

    model = build_model(image_shape=(1, 8, 8), latent_dim=3, hidden=[16]).eval()
    images = ImageSet(torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8))
    out = _objective_terms(model, images, TrainConfig(objective="tcvae", tc_weight=3.0), 0)
    assert out["neg_elbo"] > 0 and "objective_tc" in out and "objective_mi" in out
