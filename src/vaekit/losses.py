"""Per-image loss terms. Units: BCE terms are nats per image (a Bernoulli likelihood of pixels in
[0, 1]); MSE terms are the summed squared error per image; KL is nats per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vaekit.models.posterior import prior_log_prob

RECON_LOSSES = ("bce", "mse")
OBJECTIVES = ("elbo", "iwae")


def reconstruction(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction error summed over pixels, per image: (..., C, H, W) -> (...).

    ``target`` broadcasts against ``logits``, so (S, B, C, H, W) logits of S samples per image
    take (B, C, H, W) targets. bce is computed on logits (stable, and cheaper than sigmoid +
    BCE); mse compares sigmoid(logits) with the target.
    """
    target = target.expand_as(logits)
    if kind == "bce":
        err = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif kind == "mse":
        err = (torch.sigmoid(logits) - target).pow(2)
    else:
        raise ValueError(f"unknown reconstruction loss '{kind}'; choose from {RECON_LOSSES}")
    return err.flatten(-3).sum(-1)


def reconstruction_sum(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The batch total of ``reconstruction`` (a scalar), without the per-image intermediate."""
    target = target.expand_as(logits)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    return F.mse_loss(torch.sigmoid(logits), target, reduction="sum")


def objective(logits: torch.Tensor, posterior, z: torch.Tensor, target: torch.Tensor, kind: str,
              beta: float, bound: str = "elbo"):
    """The training objective for a batch, from S posterior samples per image.

    logits: (S, B, C, H, W) decoded from z: (S, B, D); target: (B, C, H, W).
    bound "elbo": mean over images of recon + beta * KL, recon averaged over the S samples.
    bound "iwae": minus the importance-weighted bound of Burda et al. (2016),
    log (1/S) sum_s p(x|z_s) p(z_s) / q(z_s|x), averaged over images (needs the bce likelihood
    and beta = 1; S = 1 gives the ELBO).
    Returns (loss, recon_sum, kl_sum): the loss to minimise (scalar) and the detached batch
    totals of the ELBO's two terms for reporting (recon averaged over samples, KL analytic).
    Under mixed precision the terms are still summed in float32.
    """
    samples, batch = logits.shape[0], target.shape[0]
    kl = posterior.kl().float().sum()
    if bound == "elbo":
        recon = reconstruction_sum(logits.float(), target, kind) / samples
        return (recon + beta * kl) / batch, recon.detach(), kl.detach()
    recon_each = reconstruction(logits.float(), target, kind)  # (S, B)
    z = z.float()
    log_w = -recon_each + prior_log_prob(z) - posterior.log_prob(z)  # (S, B) log importance weights
    bound_per_image = torch.logsumexp(log_w, 0) - math.log(samples)
    return -bound_per_image.mean(), recon_each.detach().sum() / samples, kl.detach()
