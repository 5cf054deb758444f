"""Sampling from the prior and reconstructing images: the two things every run can do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.datasets import to_float
from vaekit.datasets.folder import decode_image
from vaekit.errors import VaekitError


def sample_images(model, n: int, seed: int = 0) -> torch.Tensor:
    """Decode ``n`` draws z ~ N(0, I) with a seeded generator: (n, C, H, W) in [0, 1] on the CPU."""
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
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
def reconstruct_pairs(model, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Interleave originals and reconstructions row by row for a grid of 8 columns.

    images: (N, C, H, W) in [0, 1] with N a multiple of 8 (padded with blanks if not).
    Returns (2N', C, H, W): 8 originals, their 8 reconstructions, the next 8, ...
    """
    device = next(model.parameters()).device
    recon = torch.cat([model.reconstruct(images[s : s + batch_size].to(device)).cpu()
                       for s in range(0, len(images), batch_size)])
    pad = (-len(images)) % 8
    if pad:
        blank = torch.ones((pad, *images.shape[1:]))
        images, recon = torch.cat([images, blank]), torch.cat([recon, blank])
    pairs = torch.stack([images.view(-1, 8, *images.shape[1:]), recon.view(-1, 8, *images.shape[1:])], 1)
    return pairs.reshape(-1, *images.shape[1:])
