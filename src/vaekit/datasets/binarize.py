"""Binarized images, the protocol of the likelihood literature on MNIST.

Each pixel becomes 1 with probability equal to its grey value, so the Bernoulli decoder models
data that really is binary and its log-likelihood is a proper one.

- dynamic: a fresh draw every time a training image is used (Burda et al. 2016); validation and
  test images are drawn once, from a fixed seed, so every evaluation sees the same pixels.
- static: one draw per image made once for the whole data set (training and test alike), from
  the fixed seed ``STATIC_SEED``, so every run with ``binarize="static"`` sees the same data.
- none: grey values in [0, 1].
"""

from __future__ import annotations

import dataclasses

import torch

from vaekit.datasets.imageset import Dataset, ImageSet, Splits

STATIC_SEED = 20160101
_CHUNK = 8192  # images per Bernoulli draw; bounds the float copy's memory


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Float images (..., C, H, W) in [0, 1] -> a Bernoulli draw of the same shape, 0.0 or 1.0."""
    return torch.bernoulli(x, generator=generator)


def binarized_images(images: ImageSet, seed: int) -> ImageSet:
    """One seeded draw of every image, as a new in-memory set of uint8 0/255 images (same labels)."""
    gen = torch.Generator().manual_seed(seed)
    n = len(images)
    out = torch.empty((n, *images.shape), dtype=torch.uint8)
    for s in range(0, n, _CHUNK):
        idx = torch.arange(s, min(s + _CHUNK, n))
        grey = images.take(idx).float().div_(255.0)
        out[s : s + len(idx)] = binarize(grey, gen).mul_(255).to(torch.uint8)
    return ImageSet(out, images.all_labels())


def static_binarized(data: Dataset) -> Dataset:
    """The data set with every training and test image replaced by its fixed static draw."""
    test = binarized_images(data.test, STATIC_SEED + 1) if data.test is not None else None
    return dataclasses.replace(data, train=binarized_images(data.train, STATIC_SEED), test=test)


def binarized_splits(splits: Splits, mode: str, seed: int) -> Splits:
    """Splits as a run with binarization ``mode`` uses them, the test protocol saying how.

    dynamic: validation and test drawn once from ``seed``; training left grey (it is drawn
    afresh at every step). static: the data set was already replaced by ``static_binarized``.
    """
    if mode == "static":
        return dataclasses.replace(splits, test_protocol=f"{splits.test_protocol}; statically "
                                   f"binarized (one draw per image, seed {STATIC_SEED})")
    if mode != "dynamic":
        return splits
    return dataclasses.replace(splits, val=binarized_images(splits.val, seed),
                               test=binarized_images(splits.test, seed + 1),
                               test_protocol=f"{splits.test_protocol}; dynamically binarized (test "
                                             f"images drawn once, seed {seed + 1})")
