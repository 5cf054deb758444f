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
from dataclasses import dataclass

import torch
from torch import nn

from vaekit.models.posterior import gaussian_log_density
from vaekit.registry import MODELS, POSTERIORS, PRIORS
from vaekit.settings import int_in, setting

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


@dataclass
class VampSettings:
    pseudo_inputs: int = setting(500, "Pseudo-inputs (the mixture's components).",
                                 check=int_in(1, 100_000), expected="an integer from 1 to 100000")


class VampPrior(nn.Module):
    """VampPrior (Tomczak & Welling 2018): p(z) = (1/K) sum_k q(z | u_k), the model's own
    posteriors at K learnt pseudo-inputs (--pseudo-inputs).

    The pseudo-inputs u_k are images, so the prior follows where the encoder puts codes instead
    of pulling them to N(0, I).

    The pseudo-inputs are parameters in pixel space, clipped to [0, 1] by a hard tanh and started
    near black (0.05 + 0.01 N(0, 1)), as in the paper's own code: there a pixel moves as fast as
    the optimizer moves it. (A sigmoid of logits, tried first, moves pixels at most a quarter as
    fast and stalls them in grey: on the zoo's MNIST budget its prior samples scored a Fréchet
    distance of 23.4 against 19.3 for this, same three seeds.) The encoder is the model's,
    reached through ``bind`` (a weak reference, so the prior is not a second owner of the
    encoder's weights). It has no closed-form KL: objectives use the Monte-Carlo estimate. For
    unconditional VAEs (a conditional encoder would need labels for u_k).
    """

    settings = VampSettings

    def __init__(self, config):
        super().__init__()
        self.latent_dim = config.latent_dim
        g = torch.Generator().manual_seed(0)  # the same start for every run; training moves them
        shape = (config.pseudo_inputs, *config.image_shape)
        self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(shape, generator=g))  # (K, C, H, W)
        self._owner = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights written before the pixel parameterisation hold logits under "pseudo":
        # sigmoid(logits) are the same images, so such a run loads unchanged
        old = state_dict.pop(prefix + "pseudo", None)
        if old is not None and prefix + "pseudo_inputs" not in state_dict:
            state_dict[prefix + "pseudo_inputs"] = torch.sigmoid(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def check(model: str, conditional: bool) -> str | None:
        """Why a model of kind ``model`` (conditional or not) cannot have this prior (None: it can)."""
        if not POSTERIORS[MODELS[model].posterior].variational or conditional:
            return "an unconditional variational model (vae) for the vamp prior"
        return None

    def bind(self, model) -> None:
        import weakref

        object.__setattr__(self, "_owner", weakref.ref(model))  # not a registered sub-module

    def components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and log-variances (K, D) of the mixture's components, q(z | u_k), in float32."""
        q = self._owner().encode(torch.nn.functional.hardtanh(self.pseudo_inputs, 0.0, 1.0))
        return q.mean.float(), q.logvar.float()

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for codes (..., D) -> (...)."""

        mean, logvar = self.components()
        per_k = gaussian_log_density(z.float().unsqueeze(-2), mean, logvar).sum(-1)  # (..., K)
        return torch.logsumexp(per_k, -1) - math.log(mean.shape[0])

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """n draws (n, D): a component chosen uniformly, then a draw from it (on the model's device)."""
        mean, logvar = self.components()
        where = generator.device if generator is not None else "cpu"
        k = torch.randint(mean.shape[0], (n,), generator=generator, device=where).to(mean.device)
        eps = torch.randn((n, self.latent_dim), generator=generator, device=where).to(mean.device)
        return mean[k] + eps * torch.exp(0.5 * logvar[k])

    def kl(self, q) -> None:
        return None

    def kl_per_dim(self, q) -> None:
        return None


PRIORS.update({"normal": StandardNormal, "vamp": VampPrior})  # codebook, two-layer: their own files

