"""What ``encode()`` returns: a distribution over the latent code, the same interface for every model.

Downstream code (objectives, features, compression, plots) calls ``sample()``, ``mode()``,
``log_prob()`` and ``kl()`` and never needs to know which kind of model produced it. ``kl()``
is taken against the model's own prior, which the posterior carries.

A posterior kind is registered in ``POSTERIORS`` with the number of head outputs it needs per
latent dimension and a function turning the head's output into the posterior object.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vaekit.registry import POSTERIORS, PRIORS

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logvar)) per dimension, broadcast over the shapes given (not summed)."""
    return -0.5 * ((z - mean).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))), as a VAE's encoder produces it.

    mean, logvar: (B, D). prior: the model's prior, against which ``kl`` is measured.
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor, prior=None):
        self.mean = mean
        self.logvar = logvar
        self.prior = prior

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

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) for codes z of shape (..., B, D), summed over D -> (..., B)."""
        return gaussian_log_density(z, self.mean, self.logvar).sum(-1)

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per image in nats, (B,), against the model's prior (N(0, I) when
        none is attached)."""
        return prior_of(self).kl(self)

    def kl_per_dim(self) -> torch.Tensor | None:
        """KL per image and latent dimension in nats, (B, D), for a factorised prior."""
        return prior_of(self).kl_per_dim(self)


class PointPosterior:
    """An autoencoder's code: a single point, so sampling returns it and the KL term is zero.

    code: (B, D).
    """

    logvar = None

    def __init__(self, code: torch.Tensor, prior=None):
        self.mean = code
        self.prior = prior

    @property
    def std(self) -> torch.Tensor:
        """Zeros, (B, D): a point has no spread."""
        return torch.zeros_like(self.mean)

    def sample(self, generator: torch.Generator | None = None, n: int | None = None) -> torch.Tensor:
        """The code itself, (B, D), or n copies of it, (n, B, D)."""
        return self.mean if n is None else self.mean.expand(n, *self.mean.shape)

    def mode(self) -> torch.Tensor:
        """The code itself, (B, D)."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """Zero per image, (B,): an autoencoder has no prior term."""
        return self.mean.new_zeros(self.mean.shape[0], dtype=torch.float32)

    def kl_per_dim(self) -> torch.Tensor:
        """Zeros, (B, D)."""
        return torch.zeros_like(self.mean, dtype=torch.float32)


def prior_of(q):
    """The prior a posterior's KL is measured against: the model's, or N(0, I) for a bare one."""
    if q.prior is None:
        return PRIORS["normal"]()  # N(0, I)
    return q.prior


@dataclass(frozen=True)
class PosteriorKind:
    """How an encoder head's output becomes a posterior.

    params_per_dim: head outputs per latent dimension. build: (head output (B, params*D), prior)
    -> posterior. variational: whether codes are random (a likelihood and a KL exist).
    head: (encoder features F, model config, encoder) -> the head module, for a posterior that
    needs more than a Linear layer to params*D outputs (None: that Linear).
    """

    params_per_dim: int
    build: Callable
    variational: bool
    head: Callable | None = None


def _gaussian(head_out: torch.Tensor, prior) -> DiagonalGaussian:
    mean, logvar = head_out.chunk(2, dim=1)  # (B, 2D) -> two (B, D) halves
    return DiagonalGaussian(mean, logvar, prior)


POSTERIORS.update({
    "point": PosteriorKind(1, PointPosterior, variational=False),
    "gaussian": PosteriorKind(2, _gaussian, variational=True),
})  # "quantized": vaekit.models.vq
