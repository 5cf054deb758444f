"""Denoising with a trained model: clean images, and measure how much cleaner they get."""

from __future__ import annotations

import torch

from vaekit.datasets import check_batch
from vaekit.datasets.corrupt import Corruption
from vaekit.objectives.detail import ssim
from vaekit.tasks.metrics import psnr

MAX_PSNR_MSE = 1e-10  # identical images would give +inf dB; cap at 100 dB for averaging


@torch.no_grad()
def denoise(model, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Decode the posterior mean of each (corrupted) image: (N, C, H, W) in [0, 1] -> same shape.

    Any run can be used; one trained with ``--denoise`` has learnt to map corrupted inputs to
    clean images. Raises VaekitError when the images do not match the model's shape.
    """
    x = check_batch(images, model.config.image_shape, "images to denoise")
    device = next(model.parameters()).device
    model.eval()
    return torch.cat([model.reconstruct(x[s : s + batch_size].to(device)).cpu()
                      for s in range(0, len(x), batch_size)])


def fidelity(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB, per image then averaged), mean SSIM and mean squared error of a vs b."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return {"psnr": float(psnr(a, b, min_mse=MAX_PSNR_MSE).mean()),
            "ssim": float(ssim(a, b).mean()), "mse": float(mse.mean())}


def denoising_quality(model, clean: torch.Tensor, corruption: Corruption, seed: int = 0) -> dict:
    """Corrupt ``clean`` (N, C, H, W) with a seeded draw, denoise, and compare both with ``clean``.

    Returns {"noisy": fidelity, "denoised": fidelity, "gain_db": PSNR gain} and, under "images",
    the three (N, C, H, W) tensors (clean, noisy, denoised) for a grid.
    """
    noisy = corruption(clean, torch.Generator().manual_seed(seed))
    cleaned = denoise(model, noisy)
    before, after = fidelity(noisy, clean), fidelity(cleaned, clean)
    return {"corruption": corruption.spec, "noisy": before, "denoised": after,
            "gain_db": after["psnr"] - before["psnr"], "images": (clean, noisy, cleaned)}
