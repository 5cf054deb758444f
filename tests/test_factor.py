"""FactorVAE's parts: the permuted codes its discriminator compares against, and the
discriminator as the objective uses it (the model's term leaves its weights alone; it runs at the
model's precision)."""

import torch

from vaekit.models import build_model
from vaekit.objectives import OBJECTIVES, Batch, terms_of
from vaekit.objectives.factor import Discriminator, permute_dims
from vaekit.objectives.objective import OwnNetwork
from vaekit.settings import TrainConfig


def test_permuted_codes_keep_each_dimension_and_break_their_joint():
    torch.manual_seed(0)
    z = torch.randn(256, 4)
    z[:, 1] = z[:, 0]  # two dimensions that move together
    p = permute_dims(z)
    for j in range(4):  # every column is a reordering of its own values
        assert torch.equal(p[:, j].sort().values, z[:, j].sort().values)
    assert torch.corrcoef(z.T)[0, 1] > 0.99
    assert abs(torch.corrcoef(p.T)[0, 1]) < 0.2  # independent columns: the product of the marginals


def test_the_models_term_reaches_the_codes_and_not_the_discriminators_weights():
    torch.manual_seed(0)
    model = build_model(model="vae", image_shape=(1, 8, 8), latent_dim=3, hidden=[16])
    cfg = TrainConfig(objective="factor", discriminator_width=16)
    critic, _ = OBJECTIVES["factor"].network(model, cfg)
    x = torch.rand(16, 1, 8, 8)
    terms = terms_of(OBJECTIVES["factor"], critic)(model, Batch(x, x, None, 0.0, 16), cfg)
    terms["loss"].backward()
    assert all(p.grad is None for p in critic.parameters())  # none computed, none to clear
    assert model.head.weight.grad.abs().sum() > 0
    terms["discriminator"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())


def test_fixed_weights_give_the_same_values_and_code_gradients():
    torch.manual_seed(0)
    own = OwnNetwork(Discriminator(3, 8))
    z = torch.randn(5, 3, requires_grad=True)
    plain = own(z)
    (g_plain,) = torch.autograd.grad(plain.sum(), z)
    fixed = own.fixed(z)
    (g_fixed,) = torch.autograd.grad(fixed.sum(), z)
    assert torch.equal(plain, fixed) and torch.allclose(g_plain, g_fixed)


def test_the_network_runs_at_the_precision_it_is_given():
    own = Discriminator(3, 8)
    z = torch.randn(4, 3)
    assert OwnNetwork(own)(z).dtype == torch.float32
    bf16 = OwnNetwork(own, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    assert bf16(z).dtype == bf16.fixed(z).dtype == torch.bfloat16
