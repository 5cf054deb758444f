"""Metrics as pure functions over tensors: Fréchet distance, latent-space statistics, and PSNR
(SSIM, also a training term, is in vaekit.objectives.detail)."""

from __future__ import annotations

import torch


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix via its eigen-decomposition."""
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_from_stats(mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor,
                       cov_b: torch.Tensor) -> float:
    """Fréchet distance between N(mu_a, cov_a) and N(mu_b, cov_b):

    |mu_a - mu_b|^2 + Tr(cov_a + cov_b - 2 (cov_a^1/2 cov_b cov_a^1/2)^1/2).
    Computed in float64 with symmetric eigen-decompositions (no complex sqrtm).
    """
    mu_a, mu_b, cov_a, cov_b = (t.double() for t in (mu_a, mu_b, cov_a, cov_b))
    root = _sqrtm_psd(cov_a)
    middle = root @ cov_b @ root
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross
    return max(float(value), 0.0)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets a (N, F) and b (M, F)."""
    a, b = a.double(), b.double()
    return frechet_from_stats(a.mean(0), torch.cov(a.T), b.mean(0), torch.cov(b.T))


def effective_classes(shares: torch.Tensor) -> float:
    """exp(entropy) of a class histogram (K,) summing to 1: how many classes it covers evenly.

    K for a uniform histogram, 1 when everything falls in one class; a set of generated images
    that collapses onto a few classes scores low however sharp each image is.
    """
    p = shares.double()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def latent_stats(codes: torch.Tensor, kl_per_dim: torch.Tensor | None = None) -> dict:
    """Statistics of a set of latent codes (N, D), usually posterior means of test images.

    Returns per-dimension mean and std, ``within_3sigma`` (the share of codes whose every
    coordinate lies within 3 standard deviations of N(0, 1)), ``max_abs`` (the largest coordinate
    magnitude), and, with ``kl_per_dim`` (N, D) given, the mean KL per dimension and the active
    units: dimensions whose posterior mean varies across images (Cov_x E[z|x] > 0.01, Burda et al.)
    """
    codes = codes.double()
    variance_of_means = codes.var(0)
    out = {
        "mean": codes.mean(0).tolist(),
        "std": codes.std(0).tolist(),
        "within_3sigma": float((codes.abs() <= 3).all(1).double().mean()),
        "max_abs": float(codes.abs().max()),
        "active_units": int((variance_of_means > 0.01).sum()),
    }
    if kl_per_dim is not None:
        out["kl_per_dim"] = kl_per_dim.double().mean(0).tolist()
        out["kl_total"] = float(kl_per_dim.double().sum(1).mean())
    return out


def psnr(a: torch.Tensor, b: torch.Tensor, min_mse: float = 0.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB, for pixel values in [0, 1].

    a, b: (N, C, H, W) -> (N,) = 10 log10(1 / MSE). Identical images give +inf unless
    ``min_mse`` caps it (1e-10 caps at 100 dB, so that means over images stay finite).
    """
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp(min=min_mse))
