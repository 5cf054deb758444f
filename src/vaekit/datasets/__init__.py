"""Data sets: the built-in ones (fetched, checked, cached) and any folder of images.

    >>> from vaekit import datasets
    >>> data = datasets.load("mnist")          # Dataset(train=60000 images, test=10000)
    >>> data = datasets.load("photos/", image_size=64)
"""

from __future__ import annotations

from pathlib import Path

from vaekit.datasets.builtin import BUILTIN
from vaekit.datasets.factors import FACTOR_SETS
from vaekit.datasets.folder import load_folder
from vaekit.datasets.imageset import (
    Dataset,
    ImageSet,
    Splits,
    check_batch,
    convert_images,
    make_splits,
    to_float,
)
from vaekit.datasets.store import fetch_builtin, is_fetched, load_builtin
from vaekit.errors import VaekitError

__all__ = [
    "BUILTIN", "FACTOR_SETS", "NAMES", "Dataset", "ImageSet", "Splits", "available", "check_batch",
    "convert_images", "fetch_builtin", "load", "make_splits", "to_float",
]


NAMES = [*BUILTIN, *FACTOR_SETS]  # every built-in data set: fetched ones, then rendered ones


def available() -> list[dict]:
    """One row per built-in data set: name, description, and whether it is cached."""
    return [{"name": n, "description": s.description, "fetched": is_fetched(n)}
            for n, s in [*BUILTIN.items(), *FACTOR_SETS.items()]]


def load(name: str, image_size: int | None = None, channels: int | None = None) -> Dataset:
    """Load a built-in data set by name, or every image under a folder path.

    image_size: side of the square images to produce (center crop + resize); None keeps a
    built-in data set's own size and means 64 for folders. channels: 1 or 3; None keeps the data's.
    """
    if name in NAMES:
        data = load_builtin(name)
        if image_size is not None or channels is not None:
            data.train.images = convert_images(data.train.all_images(), image_size, channels)
            data.train.rows = None
            if data.test is not None:
                data.test.images = convert_images(data.test.all_images(), image_size, channels)
                data.test.rows = None
        return data
    if Path(name).expanduser().exists():
        return load_folder(name, image_size or 64, channels)
    raise VaekitError(f"{name}: not a built-in data set ({', '.join(NAMES)}) "
                      "and no such folder", "data")
