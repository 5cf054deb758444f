"""Batched inference over many images: the one loop behind encoding, reconstructing and decoding
image sets, so memory stays bounded and nothing is written twice.

Inputs are either an ``ImageSet`` (uint8, possibly memory-mapped; read batch by batch) or a float
tensor (N, C, H, W) in [0, 1]; labels (N,) go with a conditional model. Results come back on the
CPU in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from vaekit.datasets import ImageSet, to_float

BATCH = 1000
# A batch holds at most this many input values, so its activations stay near one budget whatever
# the image size: 1,000 MNIST digits, 170 images of 3x128x128 (in the conv face VAE a batch of
# 1,000 such images held ~1.8 GB of activations, 170 hold ~0.3 GB).
PIXEL_BUDGET = 2**23


def batch_for(image_shape, most: int = BATCH) -> int:
    """Images per inference batch for images of ``image_shape`` (C, H, W)."""
    return max(1, min(most, PIXEL_BUDGET // math.prod(image_shape)))


def _device(model) -> torch.device:
    return next(model.parameters()).device


def batches(images, labels: torch.Tensor | None = None, batch_size: int | None = None,
            device: torch.device | str = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (x (b, C, H, W) float in [0, 1], y (b,) or None) on ``device``, in order.

    An ImageSet brings its own labels when ``labels`` is None.
    """
    n = len(images)
    batch_size = batch_size or batch_for(images.shape if isinstance(images, ImageSet) else images.shape[1:])
    for s in range(0, n, batch_size):
        if isinstance(images, ImageSet):
            idx = torch.arange(s, min(s + batch_size, n))
            x = to_float(images.take(idx))
            y = images.take_labels(idx) if labels is None else labels[s : s + batch_size]
        else:
            x = images[s : s + batch_size]
            y = labels[s : s + batch_size] if labels is not None else None
        yield x.to(device), (y.to(device) if y is not None else None)


@torch.no_grad()
def map_batches(model, fn: Callable, images, labels: torch.Tensor | None = None,
                batch_size: int | None = None) -> list:
    """Apply ``fn(x, y)`` to every batch (y only for a conditional model) and gather the results:
    a tensor per output of ``fn``, concatenated on the CPU."""
    conditional = model.conditional
    outs = []
    for x, y in batches(images, labels, batch_size, _device(model)):
        out = fn(x, y if conditional else None)
        outs.append(tuple(o.float().cpu() for o in (out if isinstance(out, tuple) else (out,))))
    return [torch.cat(parts) for parts in zip(*outs, strict=True)]


def encode(model, images, labels: torch.Tensor | None = None,
           batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means (N, D) and KL per dimension (N, D) of every image; the KL is None under a
    prior that does not factorise over dimensions (vamp)."""
    def fn(x, y):
        q = model.encode(x, y)
        kl = q.kl_per_dim()
        return q.mode(), kl if kl is not None else x.new_zeros((len(x), 0))

    means, kls = map_batches(model, fn, images, labels, batch_size)
    return means, (kls if kls.shape[1] else None)


def encode_spread(model, images, labels: torch.Tensor | None = None,
                  batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations (N, D) of every image (zeros for an AE's point)."""
    def fn(x, y):
        q = model.encode(x, y)
        return q.mode(), q.std

    means, stds = map_batches(model, fn, images, labels, batch_size)
    return means, stds


def reconstruct(model, images, labels: torch.Tensor | None = None,
                batch_size: int | None = None) -> torch.Tensor:
    """Decoded posterior means (N, C, H, W) in [0, 1]."""
    return map_batches(model, model.reconstruct, images, labels, batch_size)[0]


@torch.no_grad()
def decode(model, z: torch.Tensor, labels: torch.Tensor | None = None,
           batch_size: int | None = None) -> torch.Tensor:
    """Decode codes (N, D) [with labels (N,)] into images (N, C, H, W) in [0, 1]."""
    device, out = _device(model), []
    batch_size = batch_size or batch_for(model.config.image_shape)
    for s in range(0, len(z), batch_size):
        y = labels[s : s + batch_size].to(device) if labels is not None else None
        out.append(model.decode(z[s : s + batch_size].to(device), y).float().cpu())
    return torch.cat(out)


def sample_images(model, n: int, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Decode ``n`` draws from the model's prior with a seeded generator: (n, C, H, W) in [0, 1]
    on the CPU. labels: (n,) classes to generate, for a conditional model (default: every class
    in turn)."""
    labels = model.default_labels(n) if labels is None else labels
    return decode(model, model.prior.sample(n, torch.Generator().manual_seed(seed)), labels)


def reconstruct_pairs(model, images: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Interleave originals and reconstructions row by row for a grid of 8 columns.

    images: (N, C, H, W) in [0, 1] (padded with blanks to a multiple of 8).
    y: (N,) labels, for a conditional model.
    Returns (2N', C, H, W): 8 originals, their 8 reconstructions, the next 8, ...
    """
    recon = reconstruct(model, images, y)
    pad = (-len(images)) % 8
    if pad:
        blank = torch.ones((pad, *images.shape[1:]))
        images, recon = torch.cat([images, blank]), torch.cat([recon, blank])
    pairs = torch.stack([images.view(-1, 8, *images.shape[1:]), recon.view(-1, 8, *images.shape[1:])], 1)
    return pairs.reshape(-1, *images.shape[1:])
