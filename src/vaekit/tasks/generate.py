"""Sampling from the prior and reconstructing images: the two things every run can do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.datasets import to_float
from vaekit.datasets.folder import decode_image
from vaekit.errors import VaekitError

GMM_FIT_IMAGES = 10_000


def sample_images(model, n: int, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Decode ``n`` draws z ~ N(0, I) with a seeded generator: (n, C, H, W) in [0, 1] on the CPU.

    labels: (n,) classes to generate, for a conditional model (default: every class in turn).
    """
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    if labels is not None:
        return model.sample(n, generator=gen, labels=labels).cpu()
    return model.sample(n, generator=gen).cpu()


def load_images(paths: list[str | Path], image_shape: tuple[int, int, int]) -> torch.Tensor:
    """Read image files fitted to a model's (C, H, W): (N, C, H, W) in [0, 1].

    Raises VaekitError naming the first file that cannot be read.
    """
    c, h, w = image_shape
    out = []
    for p in paths:
        if not Path(p).is_file():
            raise VaekitError(f"{p}: no such file")
        arr = decode_image(p, h, w, c)
        if arr is None:
            raise VaekitError(f"{p}: not a readable image")
        out.append(arr)
    return to_float(torch.from_numpy(np.stack(out)))


@torch.no_grad()
def reconstruct_pairs(model, images: torch.Tensor, batch_size: int = 512,
                      y: torch.Tensor | None = None) -> torch.Tensor:
    """Interleave originals and reconstructions row by row for a grid of 8 columns.

    images: (N, C, H, W) in [0, 1] with N a multiple of 8 (padded with blanks if not).
    y: (N,) labels, for a conditional model.
    Returns (2N', C, H, W): 8 originals, their 8 reconstructions, the next 8, ...
    """
    device = next(model.parameters()).device
    label = (lambda s: y[s : s + batch_size].to(device)) if y is not None else (lambda s: None)  # noqa: E731
    recon = torch.cat([model.reconstruct(images[s : s + batch_size].to(device), label(s)).cpu()
                       for s in range(0, len(images), batch_size)])
    pad = (-len(images)) % 8
    if pad:
        blank = torch.ones((pad, *images.shape[1:]))
        images, recon = torch.cat([images, blank]), torch.cat([recon, blank])
    pairs = torch.stack([images.view(-1, 8, *images.shape[1:]), recon.view(-1, 8, *images.shape[1:])], 1)
    return pairs.reshape(-1, *images.shape[1:])


def fit_code_gmm(model, images, components: int = 10, seed: int = 0) -> dict:
    """Fit a Gaussian mixture (full covariances) to the posterior means of ``images`` (a seeded
    10,000 of them at most).

    A post-hoc sampler: decoding draws from this mixture instead of N(0, I) avoids the "holes"
    between the aggregate posterior and the prior, which is where blurry or mixed samples come
    from. Returns the mixture as plain lists (weights (K,), means (K, D), covariances (K, D, D)).
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    from vaekit.tasks.latent import encode_set

    if len(images) > GMM_FIT_IMAGES:  # EM on 60k x D codes takes minutes; 10k fit as well
        pick = np.sort(np.random.default_rng(seed).permutation(len(images))[:GMM_FIT_IMAGES])
        images = images.subset(pick)
    codes = encode_set(model, images)[0].double().numpy()
    if len(codes) < components:
        raise VaekitError(f"--components {components}: more mixture components than the "
                          f"{len(codes)} training images")
    # EM works on D x D matrices (D <= a few hundred): threaded BLAS gains nothing there and, with
    # the cores busy, its spinning threads were seen to make a 4 s fit take over 2 minutes
    with threadpool_limits(1):
        gm = GaussianMixture(components, covariance_type="full", reg_covar=1e-5, random_state=seed).fit(codes)
    return {"components": components, "images": len(codes), "seed": seed,
            "weights": gm.weights_.tolist(), "means": gm.means_.tolist(),
            "covariances": gm.covariances_.tolist()}


def run_gmm(run: str | Path, model, components: int = 10, seed: int = 0) -> dict:
    """The run's code mixture, fitted on its training split once and cached as ``gmm-K.json``."""
    import json

    from vaekit.files import write_json
    from vaekit.tasks.rundata import run_data

    path = Path(run) / f"gmm-{components}.json"
    if path.is_file():
        return json.loads(path.read_text())
    gmm = fit_code_gmm(model, run_data(run)[1].train, components, seed)
    write_json(path, gmm)
    return gmm


def gmm_codes(gmm: dict, n: int, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` codes (n, D) from a mixture made by ``fit_code_gmm``, with a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    weights = torch.tensor(gmm["weights"], dtype=torch.float64)
    means = torch.tensor(gmm["means"], dtype=torch.float64)  # (K, D)
    chol = torch.linalg.cholesky(torch.tensor(gmm["covariances"], dtype=torch.float64))  # (K, D, D)
    comp = torch.multinomial(weights, n, replacement=True, generator=gen)  # (n,)
    eps = torch.randn((n, means.shape[1]), generator=gen, dtype=torch.float64)
    return (means[comp] + (chol[comp] @ eps[:, :, None])[:, :, 0]).float()


@torch.no_grad()
def decode_codes(model, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Decode codes (n, D) into images (n, C, H, W) in [0, 1] on the CPU, batched."""
    device = next(model.parameters()).device
    parts = [model.decode(z[s : s + batch_size].to(device)).cpu() for s in range(0, len(z), batch_size)]
    return torch.cat(parts)
