"""What ``encode()`` returns: a distribution over the latent code, the same interface for AE and VAE.

Downstream code (training, features, compression, plots) calls ``sample()``, ``mode()`` and
``kl()`` and never needs to know which kind of model produced it.
"""

from __future__ import annotations

import math

import torch


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))), as a VAE's encoder produces it.

    mean, logvar: (B, D).
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar

    @property
    def std(self) -> torch.Tensor:
        """(B, D) standard deviations."""
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """A reparameterized draw z = mean + std * eps, (B, D); gradients flow to mean and logvar.

        n: draw n codes per image instead, (n, B, D).
        """
        shape = self.mean.shape if n is None else (n, *self.mean.shape)
        eps = torch.randn(shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + eps * self.std

    def mode(self) -> torch.Tensor:
        """The most likely code: the mean, (B, D). Use it for features and compression."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per image in nats, (B,)."""
        return self.kl_per_dim().sum(1)

    def kl_per_dim(self) -> torch.Tensor:
        """KL per image and latent dimension in nats, (B, D)."""
        mean, logvar = self.mean.float(), self.logvar.float()  # float32 even under autocast
        return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) for codes z of shape (..., B, D), summed over D -> (..., B)."""
        return -0.5 * (((z - self.mean) ** 2) * torch.exp(-self.logvar) + self.logvar
                       + math.log(2 * math.pi)).sum(-1)


def prior_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) for codes z of shape (..., D), summed over D -> (...)."""
    return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)


class PointPosterior:
    """An autoencoder's code: a single point, so sampling returns it and the KL term is zero.

    code: (B, D).
    """

    def __init__(self, code: torch.Tensor):
        self.mean = code

    def sample(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """The code itself, (B, D), or n copies of it, (n, B, D)."""
        return self.mean if n is None else self.mean.expand(n, *self.mean.shape)

    def mode(self) -> torch.Tensor:
        """The code itself, (B, D)."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """Zero per image, (B,): an autoencoder has no prior term."""
        return self.mean.new_zeros(self.mean.shape[0])

    def kl_per_dim(self) -> torch.Tensor:
        """Zeros, (B, D)."""
        return torch.zeros_like(self.mean)
