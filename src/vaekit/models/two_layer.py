"""The two-stochastic-layer VAE of Burda, Grosse & Salakhutdinov (2016, "Importance Weighted
Autoencoders", section 5): a second layer of latent variables u above the code z.

Generative model: u ~ N(0, I), z ~ p(z | u), x ~ p(x | z); inference: z ~ q(z | x), u ~ q(u | z).
Everything below the code is the usual VAE, so the second layer is a prior over z,

    p(z) = integral of p(z | u) N(u; 0, I) du,

whose ``log_prob`` is the one-sample importance estimate log p(z | u) + log N(u) - log q(u | z)
with u ~ q(u | z). Put in the objectives' Monte-Carlo KL, it makes the ELBO exactly the two-layer
model's bound; put in the iwae objective (and in the IS-NLL), each importance sample is the pair
(z, u) drawn from q(z | x) q(u | z), which is the IWAE paper's k-sample bound for this model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaekit.models.posterior import gaussian_log_density
from vaekit.registry import ACTIVATIONS, MODELS, POSTERIORS, PRIORS
from vaekit.settings import int_in, setting


@dataclass
class TwoLayerSettings:
    top_dim: int = setting(0, "Units of the second stochastic layer (0: half of --latent-dim).",
                           check=int_in(0, 65536), expected="an integer from 0 to 65536")


class TwoLayerPrior(nn.Module):
    """A second stochastic layer u (--top-dim units) above the code: p(z) = E_{u ~ N(0, I)} p(z | u),
    the IWAE paper's two-layer VAE (Burda et al. 2016); with --objective iwae, its k-sample bound.

    p(z | u) and q(u | z) are diagonal Gaussians from MLPs with two hidden layers of latent_dim
    units and the model's activation (the paper: tanh)."""

    settings = TwoLayerSettings

    def __init__(self, config):
        super().__init__()
        d = config.latent_dim
        self.top_dim = config.top_dim or max(1, d // 2)
        act = ACTIVATIONS[config.activation]

        def mlp(n_in: int, n_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(n_in, d), act(), nn.Linear(d, d), act(), nn.Linear(d, 2 * n_out))

        self.up = mlp(d, self.top_dim)  # q(u | z): mean and log-variance
        self.down = mlp(self.top_dim, d)  # p(z | u)

    @staticmethod
    def check(model: str, conditional: bool) -> str | None:
        """Why a model of kind ``model`` (conditional or not) cannot have this prior (None: it can)."""
        if not POSTERIORS[MODELS[model].posterior].variational or conditional:
            return "an unconditional variational model (vae) for the two-layer prior"
        return None

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """A one-sample importance estimate of log p(z) for codes (..., D) -> (...), float32; its
        expectation is a lower bound on log p(z), and exact as q(u | z) reaches p(u | z)."""
        z = z.float()
        mu_u, logvar_u = self.up(z).float().chunk(2, -1)
        u = mu_u + torch.exp(0.5 * logvar_u) * torch.randn_like(mu_u)
        mu_z, logvar_z = self.down(u).float().chunk(2, -1)
        return (gaussian_log_density(z, mu_z, logvar_z).sum(-1)
                + gaussian_log_density(u, torch.zeros_like(u), torch.zeros_like(u)).sum(-1)
                - gaussian_log_density(u, mu_u, logvar_u).sum(-1))

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """n codes (n, D): u ~ N(0, I), then z ~ p(z | u) (on the model's device)."""
        where = generator.device if generator is not None else "cpu"
        param = next(self.parameters())
        u = torch.randn((n, self.top_dim), generator=generator, device=where).to(param.device)
        mu, logvar = self.down(u).float().chunk(2, -1)
        eps = torch.randn(mu.shape, generator=generator, device=where).to(param.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def kl(self, q) -> None:
        return None

    def kl_per_dim(self, q) -> None:
        return None


PRIORS["two-layer"] = TwoLayerPrior
