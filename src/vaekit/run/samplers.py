"""Samplers: where the codes a run decodes come from -- its prior, a Gaussian mixture fitted to
its training codes, or a second VAE trained on them (two-stage) -- registered in ``SAMPLERS``
as ``fn(run, n, seed) -> codes (n, D)``."""

from __future__ import annotations

import numpy as np
import torch

from vaekit.errors import SettingError
from vaekit.registry import SAMPLERS

# EM's cost grows with images x D^2: all of MNIST's 60,000 codes of 16 dimensions fit in about
# 2 s (Fréchet distance of Fashion-MNIST samples 23.4-23.9, against 24.2-24.5 from 10,000), while
# at D = 128 10,000 codes already take as long
GMM_FIT_BUDGET = 30_000_000  # images x D^2


def gmm_fit_images(dim: int) -> int:
    """How many training codes of ``dim`` dimensions the mixture is fitted to, at most."""
    return max(10_000, GMM_FIT_BUDGET // dim**2)


GMM_CODES = "posterior draws"  # what the mixture is fitted to; a cache of another kind is refitted


def fit_code_gmm(model, images, components: int = 10, seed: int = 0) -> dict:
    """Fit a Gaussian mixture (full covariances) to the training codes: one draw from q(z|x) per
    image (the code itself for an AE), for a seeded ``gmm_fit_images(D)`` of ``images`` at most.

    A post-hoc sampler: decoding draws from this mixture instead of N(0, I) avoids the "holes"
    between the aggregate posterior and the prior, which is where blurry or mixed samples come
    from. Draws rather than posterior means: the mixture then matches the aggregate posterior
    q(z) the decoder was trained on, spread included (Fashion-MNIST, latent 16, 10,000 codes:
    Fréchet distance 24.5 against 25.6 for means). Returns the mixture as plain lists (weights
    (K,), means (K, D), covariances (K, D, D)).
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    from vaekit.models.inference import encode_spread

    most = gmm_fit_images(model.latent_dim)
    if len(images) > most:
        pick = np.sort(np.random.default_rng(seed).permutation(len(images))[:most])
        images = images.subset(pick)
    mean, std = encode_spread(model, images)
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(mean.shape, generator=gen, dtype=torch.float64)
    codes = (mean.double() + std.double() * eps).numpy()
    if len(codes) < components:
        raise SettingError("components", f"at most the {len(codes)} training images", components)
    # EM works on D x D matrices (D <= a few hundred): threaded BLAS gains nothing there and, with
    # the cores busy, its spinning threads were seen to make a 4 s fit take over 2 minutes
    with threadpool_limits(1):
        gm = GaussianMixture(components, covariance_type="full", reg_covar=1e-5, random_state=seed).fit(codes)
    return {"components": components, "images": len(codes), "seed": seed, "codes": GMM_CODES,
            "weights": gm.weights_.tolist(), "means": gm.means_.tolist(),
            "covariances": gm.covariances_.tolist()}


def gmm_codes(gmm: dict, n: int, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` codes (n, D) from a mixture made by ``fit_code_gmm``, with a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    weights = torch.tensor(gmm["weights"], dtype=torch.float64)
    means = torch.tensor(gmm["means"], dtype=torch.float64)  # (K, D)
    chol = torch.linalg.cholesky(torch.tensor(gmm["covariances"], dtype=torch.float64))  # (K, D, D)
    comp = torch.multinomial(weights, n, replacement=True, generator=gen)  # (n,)
    eps = torch.randn((n, means.shape[1]), generator=gen, dtype=torch.float64)
    return (means[comp] + (chol[comp] @ eps[:, :, None])[:, :, 0]).float()


def prior_codes(run, n: int, seed: int = 0) -> torch.Tensor:
    """Draws from the model's prior (N(0, I) by default).

    ``n`` codes (n, D), with a seeded generator."""
    return run.model.prior.sample(n, torch.Generator().manual_seed(seed))


def mixture_codes(run, n: int, seed: int = 0, components: int = 10) -> torch.Tensor:
    """Draws from a Gaussian mixture fitted to the training codes (--components, default 10).

    ``n`` codes (n, D); the mixture is fitted once per run and cached (``Run.gmm``)."""
    return gmm_codes(run.gmm(components, seed), n, seed)


# Where sampled codes come from: name -> (run, n, seed, **options) -> codes (n, D). ``Run.sample``,
# `vaekit sample --sampler` and the evaluation use this table.
def _two_stage(run, n: int, seed: int = 0) -> torch.Tensor:
    """Draws from a second VAE fitted to the training codes (two-stage VAE, Dai & Wipf 2019)."""
    from vaekit.run.two_stage import two_stage_codes

    return two_stage_codes(run, n, seed)


SAMPLERS.update({"prior": prior_codes, "gmm": mixture_codes, "two-stage": _two_stage})
