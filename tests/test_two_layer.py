"""The two-stochastic-layer VAE (the two-layer prior): its density estimate is exact where it
should be, it trains with the ELBO and the IWAE bound, saves and loads."""

import pytest
import torch
from conftest import TINY

import vaekit
from vaekit.errors import SettingError
from vaekit.models import build_model
from vaekit.models.priors import StandardNormal
from vaekit.settings import TrainConfig


def test_with_a_top_layer_that_carries_nothing_it_is_the_standard_normal():
    # p(z | u) = N(0, I) and q(u | z) = N(0, I) whatever u and z: log p(z) is log N(z; 0, I) exactly
    model = build_model(prior="two-layer", latent_dim=5, top_dim=3)
    for net in (model.prior.up, model.prior.down):
        torch.nn.init.zeros_(net[-1].weight)
        torch.nn.init.zeros_(net[-1].bias)
    z = torch.randn(7, 5) * 2
    assert torch.allclose(model.prior.log_prob(z), StandardNormal().log_prob(z), atol=1e-5)
    assert model.prior.sample(4000, torch.Generator().manual_seed(0)).std(0).sub(1).abs().max() < 0.06


def test_the_estimate_is_a_bound_that_importance_weighting_tightens():
    torch.manual_seed(0)
    prior = build_model(prior="two-layer", latent_dim=4, top_dim=2).prior
    z = torch.randn(3, 4)
    one = torch.stack([prior.log_prob(z) for _ in range(4000)])  # (S, 3) single-sample estimates
    elbo = one.mean(0)
    iw = torch.logsumexp(one, 0) - torch.log(torch.tensor(4000.0))
    assert torch.all(iw >= elbo)  # Jensen: the averaged weights bound log p(z) more tightly


def test_it_needs_a_variational_unconditional_model():
    with pytest.raises(SettingError, match="prior"):
        TrainConfig(model="ae", prior="two-layer")
    with pytest.raises(SettingError, match="top_dim"):
        TrainConfig(prior="two-layer", top_dim=-1)


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_train_save_and_load(objective, tiny_data, tmp_path):
    cfg = TrainConfig(data=str(tiny_data), prior="two-layer", objective=objective, k=3 if objective == "iwae" else 1,
                      out=str(tmp_path / "run"), **{**TINY, "epochs": 2})
    run = vaekit.fit(cfg)
    model = vaekit.load(run)
    assert model.prior.top_dim == 1  # half of latent_dim 3
    g = [torch.Generator().manual_seed(2) for _ in range(2)]
    again = vaekit.load(run)
    assert torch.equal(model.sample(4, g[0]), again.sample(4, g[1]))  # resuming: test_contract.py
