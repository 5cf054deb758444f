"""Image files a command is given (to reconstruct, denoise, score): read and fitted to a model's
(C, H, W), one file or a batch with the unreadable ones skipped and reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaekit.datasets.decode import Unreadable, read_image
from vaekit.datasets.imageset import to_float
from vaekit.errors import VaekitError


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
