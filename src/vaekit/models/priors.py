"""Priors p(z): the distribution a model's codes are pulled towards and sampled from.

A prior is an ``nn.Module`` on the model (``model.prior``), so a learnt prior keeps its
parameters in the model's weights. It offers

    log_prob(z)      codes (..., D) -> log p(z) summed over D, (...)
    sample(n, g)     n codes (n, D), drawn with the generator g
    kl(q)            KL(q(z|x) || p(z)) per image (B,), where it has a closed form; None otherwise
    kl_per_dim(q)    the same per dimension (B, D), for a factorised prior; None otherwise

Objectives fall back on the Monte-Carlo estimate log q(z|x) - log p(z) where ``kl`` is None.
Register a new prior with one line in ``PRIORS``; it is built as ``PRIORS[name](config)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


class StandardNormal(nn.Module):
    """p(z) = N(0, I), the VAE's usual prior.

    It has no parameters, so weights saved before priors were pluggable load unchanged."""

    def __init__(self, config=None):
        super().__init__()
        self.latent_dim = config.latent_dim if config is not None else None

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) for codes (..., D), summed over D -> (...)."""
        return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """n draws (n, D) on ``device`` (default: the generator's, else the CPU)."""
        where = generator.device if generator is not None else (device or "cpu")
        return torch.randn((n, self.latent_dim), generator=generator, device=where)

    def kl_per_dim(self, q) -> torch.Tensor | None:
        """Closed-form KL of a diagonal Gaussian q to N(0, I) per dimension, (B, D), in float32
        even under autocast; a point posterior (an AE) has none, so zeros."""
        if q.logvar is None:
            return torch.zeros_like(q.mean, dtype=torch.float32)
        mean, logvar = q.mean.float(), q.logvar.float()
        return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)

    def kl(self, q) -> torch.Tensor | None:
        """KL(q || N(0, I)) per image in nats, (B,)."""
        return self.kl_per_dim(q).sum(1)


PRIORS: dict[str, type[nn.Module]] = {"normal": StandardNormal}
