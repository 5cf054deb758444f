"""Per-image loss terms. Units: BCE terms are nats per image (a Bernoulli likelihood of pixels in
[0, 1]); MSE terms are the summed squared error per image; KL is nats per image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RECON_LOSSES = ("bce", "mse")


def reconstruction(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction error summed over pixels, per image: (B, C, H, W) x2 -> (B,).

    bce is computed on logits (stable, and cheaper than sigmoid + BCE); mse compares
    sigmoid(logits) with the target.
    """
    if kind == "bce":
        err = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif kind == "mse":
        err = (torch.sigmoid(logits) - target).pow(2)
    else:
        raise ValueError(f"unknown reconstruction loss '{kind}'; choose from {RECON_LOSSES}")
    return err.flatten(1).sum(1)


def reconstruction_sum(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The batch total of ``reconstruction`` (a scalar), without the per-image intermediate."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    return F.mse_loss(torch.sigmoid(logits), target, reduction="sum")


def objective(logits: torch.Tensor, posterior, target: torch.Tensor, kind: str, beta: float):
    """The training objective for a batch: mean over images of recon + beta * KL.

    Returns (loss, recon_sum, kl_sum): the loss to minimise (scalar) and the detached batch
    totals of the two terms for reporting.
    Under mixed precision the terms are still summed in float32.
    """
    recon = reconstruction_sum(logits.float(), target, kind)
    kl = posterior.kl().float().sum()
    loss = (recon + beta * kl) / target.shape[0]
    return loss, recon.detach(), kl.detach()
