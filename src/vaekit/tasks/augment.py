"""Data augmentation: generated images written as an image folder, one sub-folder per class."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from vaekit.errors import VaekitError
from vaekit.models.inference import sample_images
from vaekit.report.plots import save_image


def class_samples(model, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` decoded prior draws for every class of a conditional model.

    Returns images (K * per_class, C, H, W) in [0, 1] and their labels (K * per_class,).
    """
    if not model.conditional:
        raise VaekitError("augment: needs a class-conditional run (vaekit train --model cvae) so that "
                          "every generated image has a known class")
    labels = torch.arange(model.config.num_classes).repeat_interleave(per_class)
    return sample_images(model, len(labels), seed, labels), labels


def write_image_folder(images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                       out: str | Path, prefix: str = "gen") -> list[Path]:
    """Write images as ``out/<class name>/<prefix>_NNNNNN.png`` -- the layout vaekit's folder loader
    (and torchvision's ImageFolder, and most tools) read as labelled data. Refuses to overwrite."""
    out = Path(out)
    folders = [_safe(name) for name in class_names]
    if len(set(folders)) != len(folders):
        raise VaekitError(f"class names {class_names} do not give distinct folder names")
    clash = [out / f for f in folders if (out / f).exists() and any((out / f).glob(f"{prefix}_*.png"))]
    if clash:
        raise VaekitError(f"{out} already holds generated images ({clash[0]}); choose an empty folder",
                          "output")
    paths = []
    counts = [0] * len(class_names)
    for img, y in zip(images, labels.tolist(), strict=True):
        paths.append(save_image(img, out / folders[y] / f"{prefix}_{counts[y]:06d}.png"))
        counts[y] += 1
    return paths


def _safe(name: str) -> str:
    """A class name usable as a folder name on every OS."""
    cleaned = re.sub(r"[^\w\-. ]+", "_", name).strip(" .")
    return cleaned or "class"
