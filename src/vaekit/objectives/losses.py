"""Per-image reconstruction terms; the objectives that combine them are the other files of this package.

Units: BCE terms are nats per image (a Bernoulli likelihood of pixels in [0, 1]); MSE terms are
the summed squared error per image, L1 terms the summed absolute error (a Laplace likelihood up to
its scale: less blur than MSE, which averages plausible details away).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vaekit.settings import RECON_LOSSES


def reconstruction(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction error summed over pixels, per image: (..., C, H, W) -> (...).

    ``target`` broadcasts against ``logits``, so (S, B, C, H, W) logits of S samples per image
    take (B, C, H, W) targets. bce is computed on logits (stable, and cheaper than sigmoid +
    BCE); mse and l1 compare sigmoid(logits) with the target.
    """
    target = target.expand_as(logits)
    if kind == "bce":
        err = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif kind == "mse":
        err = (torch.sigmoid(logits) - target).pow(2)
    elif kind == "l1":
        err = (torch.sigmoid(logits) - target).abs()
    else:
        raise ValueError(f"unknown reconstruction loss '{kind}'; choose from {RECON_LOSSES}")
    return err.flatten(-3).sum(-1)


def reconstruction_sum(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The batch total of ``reconstruction`` (a scalar), without the per-image intermediate."""
    target = target.expand_as(logits)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    if kind == "l1":
        return F.l1_loss(torch.sigmoid(logits), target, reduction="sum")
    return F.mse_loss(torch.sigmoid(logits), target, reduction="sum")
