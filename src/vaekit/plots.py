"""Image grids drawn with Pillow (no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaekit.files import atomic_write


def grid_array(images: torch.Tensor, nrow: int = 8, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile images (N, C, H, W) in [0, 1] into one (H', W', C) uint8 array, ``nrow`` per row.

    Grey images stay single-channel; ``scale`` enlarges by pixel repetition for small images.
    """
    images = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = images.shape
    cols = min(nrow, n)
    rows = (n + cols - 1) // cols
    # Pad each tile on its right and bottom, fill the last row with blanks, then fold the
    # (rows, cols) tiles into one canvas: (rows*cols, C, h+p, w+p) -> (C, rows*(h+p), cols*(w+p)).
    tiles = torch.ones((rows * cols, c, h + pad, w + pad))
    tiles[:n, :, :h, :w] = images
    canvas = tiles.view(rows, cols, c, h + pad, w + pad).permute(2, 0, 3, 1, 4)
    canvas = canvas.reshape(c, rows * (h + pad), cols * (w + pad))
    canvas = torch.nn.functional.pad(canvas, (pad, 0, pad, 0), value=1.0)
    arr = (canvas * 255).round().byte().permute(1, 2, 0).numpy()
    if scale > 1:
        arr = arr.repeat(scale, 0).repeat(scale, 1)
    return arr


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, pad: int = 2) -> Path:
    """Write a PNG grid of images (N, C, H, W) in [0, 1] atomically; small images are enlarged."""
    h = images.shape[-2]
    arr = grid_array(images, nrow, pad, scale=max(1, 64 // h))
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    return atomic_write(path, lambda p: img.save(p, format="PNG"))
