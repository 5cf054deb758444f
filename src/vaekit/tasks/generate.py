"""Sampling from the prior and reconstructing images: the two things every run can do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.datasets import to_float
from vaekit.datasets.decode import Unreadable, read_image
from vaekit.errors import SettingError, VaekitError

# EM's cost grows with images x D^2: all of MNIST's 60,000 codes of 16 dimensions fit in about
# 2 s (Fréchet distance of Fashion-MNIST samples 23.4-23.9, against 24.2-24.5 from 10,000), while
# at D = 128 10,000 codes already take as long
GMM_FIT_BUDGET = 30_000_000  # images x D^2


def gmm_fit_images(dim: int) -> int:
    """How many training codes of ``dim`` dimensions the mixture is fitted to, at most."""
    return max(10_000, GMM_FIT_BUDGET // dim**2)


def sample_images(model, n: int, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Decode ``n`` draws from the model's prior with a seeded generator: (n, C, H, W) in [0, 1]
    on the CPU. labels: (n,) classes to generate, for a conditional model (default: every class
    in turn)."""
    from vaekit.inference import decode

    labels = model.default_labels(n) if labels is None else labels
    return decode(model, model.prior.sample(n, torch.Generator().manual_seed(seed)), labels)


def load_images(paths: list[str | Path], image_shape: tuple[int, int, int]) -> torch.Tensor:
    """Read image files fitted to a model's (C, H, W): (N, C, H, W) in [0, 1] (see
    ``vaekit.datasets.decode`` for how). Raises VaekitError naming the first file that cannot be read."""
    c, h, w = image_shape
    out = []
    for p in paths:
        if not Path(p).is_file():
            raise VaekitError(f"{p}: no such file")
        out.append(read_image(p, h, w, c))
    return to_float(torch.from_numpy(np.stack(out)))


def read_files(paths: list[Path], image_shape: tuple[int, int, int],
               strict: bool = False) -> tuple[torch.Tensor, list[int], list[str]]:
    """Read many files for a batch command, skipping the unreadable ones (with ``strict``, the
    first one stops it instead, naming itself). Returns (images (N, C, H, W) in [0, 1], the
    positions in ``paths`` that were read, one reason per skipped file)."""
    c, h, w = image_shape
    images, kept, skipped = [], [], []
    for i, p in enumerate(paths):
        try:
            images.append(read_image(p, h, w, c))
            kept.append(i)
        except Unreadable as e:
            if strict:
                raise
            skipped.append(e.message)
    if not images:
        raise VaekitError(f"none of the {len(paths)} files could be read (e.g. {skipped[0]})")
    return to_float(torch.from_numpy(np.stack(images))), kept, skipped


def skipped_line(skipped: list[str]) -> str | None:
    """The one summary line for files a batch command skipped, or None."""
    if not skipped:
        return None
    plural = "s" * (len(skipped) > 1)
    return f"skipped {len(skipped)} unreadable file{plural} (e.g. {skipped[0]}); --strict stops instead"


def reconstruct_pairs(model, images: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Interleave originals and reconstructions row by row for a grid of 8 columns.

    images: (N, C, H, W) in [0, 1] (padded with blanks to a multiple of 8).
    y: (N,) labels, for a conditional model.
    Returns (2N', C, H, W): 8 originals, their 8 reconstructions, the next 8, ...
    """
    from vaekit.inference import reconstruct

    recon = reconstruct(model, images, y)
    pad = (-len(images)) % 8
    if pad:
        blank = torch.ones((pad, *images.shape[1:]))
        images, recon = torch.cat([images, blank]), torch.cat([recon, blank])
    pairs = torch.stack([images.view(-1, 8, *images.shape[1:]), recon.view(-1, 8, *images.shape[1:])], 1)
    return pairs.reshape(-1, *images.shape[1:])


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

    from vaekit.inference import encode_spread

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
    from vaekit.tasks.two_stage import two_stage_codes

    return two_stage_codes(run, n, seed)


SAMPLERS = {"prior": prior_codes, "gmm": mixture_codes, "two-stage": _two_stage}
