"""FactorVAE (Kim & Mnih 2018): the ELBO plus gamma times the total correlation of the codes,
estimated by a discriminator that tells codes from codes whose dimensions were shuffled apart.

The discriminator is the objective's own network, trained beside the model with its own Adam
(Kim & Mnih's and disentanglement_lib's: six layers of 1000 units with leaky ReLU, learning rate
1e-4, betas 0.5 and 0.9) on the same batch: real codes against codes with each dimension
permuted across the batch (a sample of the product of the marginals). Its log-odds of "real"
estimate log q(z) / prod_j q(z_j), whose batch mean is the total correlation the model's loss
carries (Kim & Mnih's eq. 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.objectives.losses import reconstruction_sum
from vaekit.objectives.objective import Batch, Objective, kl_term, one_code, trained_beside, variational
from vaekit.registry import OBJECTIVES
from vaekit.settings import int_in, setting, weight

if TYPE_CHECKING:
    from vaekit.objectives.objective import OwnNetwork


@dataclass
class FactorSettings:
    # disentanglement_lib sweeps 10 to 100 on dSprites; Kim & Mnih report good scores from 10 to 40
    factor_gamma: float = weight(35.0, "Weight of the total-correlation term (FactorVAE's gamma).")
    discriminator_lr: float = setting(1e-4, "Learning rate of the FactorVAE discriminator (Adam, betas 0.5, "
                                      "0.9).", check=lambda v: isinstance(v, (int, float)) and 0 < v < 1,
                                      expected="a number in (0, 1)")
    discriminator_width: int = setting(1000, "Units in each of the discriminator's six hidden layers.",
                                       check=int_in(1, 16384), expected="an integer from 1 to 16384")


class Discriminator(nn.Module):
    """Codes (B, D) -> logits (B, 2) of (real, permuted): six hidden layers of leaky ReLU."""

    def __init__(self, latent_dim: int, width: int):
        super().__init__()
        layers, size = [], latent_dim
        for _ in range(6):
            layers += [nn.Linear(size, width), nn.LeakyReLU(0.2)]
            size = width
        self.net = nn.Sequential(*layers, nn.Linear(size, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Each column of codes (B, D) shuffled on its own (global RNG): dimensions made independent."""
    b, d = z.shape
    order = torch.argsort(torch.rand(b, d, device=z.device), dim=0)  # (B, D): a permutation per column
    return torch.gather(z, 0, order)


def factor(model, batch: Batch, s, discriminator: OwnNetwork) -> dict:
    """recon + beta * KL + factor_gamma * TC, with TC the discriminator's mean log-odds on the
    batch's codes; ``discriminator``: its cross-entropy on real against permuted codes (detached:
    it trains the discriminator only)."""
    logits, q, z = model(batch.x, batch.y, samples=1)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / n
    kl = kl_term(model, q, z).sum() / n
    codes = z[0].float()
    odds = discriminator.fixed(codes).float()  # (B, 2)
    tc = (odds[:, 0] - odds[:, 1]).mean()
    real = codes.detach()
    both = discriminator(torch.cat([real, permute_dims(real)])).float()  # one pass: (2B, 2)
    labels = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)]).to(codes.device)
    return {"loss": recon + s.beta * kl + s.factor_gamma * tc, "recon": recon.detach(), "kl": kl.detach(),
            "tc": tc.detach(), "discriminator": F.cross_entropy(both, labels)}


def discriminator(model, s) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The objective's own network and its optimizer, for a model of ``model.latent_dim``."""
    return trained_beside(model, Discriminator(model.latent_dim, s.discriminator_width), s.discriminator_lr)


OBJECTIVES["factor"] = Objective(
    factor, rules=lambda s: [variational(s), one_code(s)], settings=FactorSettings,
    network=discriminator, network_loss="discriminator",
    about="recon + beta * KL + factor_gamma * total correlation, estimated by a discriminator trained beside "
          "the model: FactorVAE (Kim & Mnih 2018)")
