"""Image data held as uint8 tensors, the splits a run uses, and shape conversion in bulk."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from vaekit.errors import VaekitError


@dataclass
class ImageSet:
    """A set of images with optional integer labels.

    images: (N, C, H, W) uint8 -- a torch tensor in memory, or a read-only numpy memmap when
            the data is larger than the free RAM. ``rows`` (when set) selects a subset of it
            without copying, so splits of a memmap stay on disk.
    labels: (N,) int64 or None.
    """

    images: torch.Tensor | np.ndarray
    labels: torch.Tensor | None = None
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(int(s) for s in self.images.shape[1:])

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """Images at positions ``idx`` (1-D int64) as a (B, C, H, W) uint8 tensor."""
        if self.rows is not None:
            idx = torch.from_numpy(self.rows)[idx]
        if isinstance(self.images, torch.Tensor):
            return self.images.index_select(0, idx)
        # memmap: read the rows in ascending order (sequential disk access), then restore order
        order = torch.argsort(idx)
        block = _read_rows(self.images, idx[order].numpy())
        out = torch.empty((len(idx), *self.shape), dtype=torch.uint8)
        out[order] = torch.from_numpy(block)
        return out

    def take_labels(self, idx: torch.Tensor) -> torch.Tensor | None:
        """Labels at positions ``idx``, or None for unlabelled data."""
        if self.labels is None:
            return None
        if self.rows is not None:
            idx = torch.from_numpy(self.rows)[idx]
        return self.labels.index_select(0, idx)

    def subset(self, positions: np.ndarray) -> ImageSet:
        """A view of the images at ``positions`` (no pixel copy)."""
        rows = self.rows[positions] if self.rows is not None else np.asarray(positions, np.int64)
        return ImageSet(self.images, self.labels, rows)

    def all_images(self) -> torch.Tensor:
        """Every image as one (N, C, H, W) uint8 tensor (loads a memmap into RAM)."""
        return self.take(torch.arange(len(self)))

    def all_labels(self) -> torch.Tensor | None:
        """Every label as one (N,) int64 tensor, or None."""
        return self.take_labels(torch.arange(len(self)))


@dataclass
class Dataset:
    """A named data set: its training images, its official test images (or None), class names."""

    name: str
    train: ImageSet
    test: ImageSet | None = None
    class_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    factors: object | None = None  # a FactorSet (vaekit.datasets.factors) for data with known factors


@dataclass
class Splits:
    """What a run trains, validates and tests on, with a sentence saying where the test set came from."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    test_protocol: str


def make_splits(data: Dataset, val_fraction: float, test_fraction: float, seed: int,
                classes: list[int] | None = None) -> Splits:
    """Split a data set for a run.

    The validation set is a seeded random ``val_fraction`` of the training images. Where the data
    set has no official test split, a seeded ``test_fraction`` of the training images is held out
    as the test set first. With ``classes``, training and validation images are restricted to
    those labels afterwards; the test set keeps every class.
    """
    g = np.random.default_rng(seed)
    train = data.train
    if data.test is not None:
        test, protocol = data.test, f"official {data.name} test split ({len(data.test)} images)"
    else:
        perm = g.permutation(len(train))
        n_test = max(1, round(test_fraction * len(train)))
        test, train = train.subset(perm[:n_test]), train.subset(perm[n_test:])
        protocol = f"held-out {test_fraction:.0%} of {data.name} ({n_test} images, seed {seed})"
    if classes is not None:
        train = _only_classes(train, classes, data)
        protocol += f"; trained on class{'es' if len(classes) > 1 else ''} {_class_list(classes, data)} only"
    perm = g.permutation(len(train))
    n_val = max(1, round(val_fraction * len(train)))
    if len(train) - n_val < 1:
        total = len(data.train) + (len(data.test) if data.test is not None else 0)
        raise VaekitError(f"{data.name}: only {total} image{'s' if total != 1 else ''}, too few to train "
                          "on: a run needs at least 3 (one each to train, validate and test on)", "data")
    return Splits(train.subset(perm[n_val:]), train.subset(perm[:n_val]), test, protocol)


def _class_list(classes: list[int], data: Dataset) -> str:
    names = data.class_names or []
    return ", ".join(f"{c} ({names[c]})" if c < len(names) and names[c] != str(c) else str(c)
                     for c in classes)


def _only_classes(images: ImageSet, classes: list[int], data: Dataset) -> ImageSet:
    """The images whose label is in ``classes``; raises VaekitError when that is impossible."""
    labels = images.all_labels()
    if labels is None:
        raise VaekitError(f"{data.name} has no labels to select classes by", "classes")
    keep = torch.isin(labels, torch.tensor(classes)).nonzero().flatten().numpy()
    if len(keep) < 2:
        present = sorted(set(labels.tolist()))
        raise VaekitError(f"{classes}: fewer than 2 training images of those classes in "
                          f"{data.name} (its labels are {present[:20]})", "classes")
    return images.subset(keep)


def to_float(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) in [0, 255] -> float32 in [0, 1]."""
    return batch.float().div_(255.0)


def convert_images(images: torch.Tensor, size: int | None, channels: int | None) -> torch.Tensor:
    """Center-crop to a square and resize to ``size`` x ``size``, and convert channel count.

    images: (N, C, H, W) uint8. ``size=None`` keeps the size; ``channels=None`` keeps C.
    Works on the whole tensor in chunks (antialiased bilinear), never image by image.
    """
    n, c, h, w = images.shape
    if channels is not None and channels != c:
        if c == 1 and channels == 3:
            images = images.expand(n, 3, h, w)
        elif c == 3 and channels == 1:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp_(0, 255).byte()
        else:
            raise ValueError(f"cannot convert {c} channels to {channels}")
        c = channels
    if size is None or (h == size and w == size):
        return images.contiguous()
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[:, :, top : top + side, left : left + side]
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for s in range(0, n, 4096):
        chunk = images[s : s + 4096].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True,
                                align_corners=False)
        out[s : s + 4096] = resized.round_().clamp_(0, 255).byte()
    return out


def fits_in_memory(nbytes: int) -> bool:
    """True when ``nbytes`` is under half of the currently free RAM (Linux; True elsewhere), or
    under ``$VAEKIT_RAM_BUDGET`` bytes when that is set. Data that does not fit is read from its
    memory-mapped cache batch by batch."""
    budget = os.environ.get("VAEKIT_RAM_BUDGET")
    if budget is not None:
        try:
            return nbytes < int(float(budget))
        except ValueError:
            raise VaekitError(f"$VAEKIT_RAM_BUDGET: expected a number of bytes, got {budget!r}") from None
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return True
    return nbytes < free // 2


def _read_rows(images: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``images[rows]`` for a memory-mapped .npy, read with pread rather than through the map.

    Touching a mapped file maps whole page-cache folios into the process (about 1 MB per row
    read here), so an epoch of random batches would count most of the cache in its memory; read
    into a fresh buffer, the file's pages stay in the kernel's cache and out of the process.
    Arrays that are not a file-backed memmap are indexed as usual.
    """
    path, offset = getattr(images, "filename", None), getattr(images, "offset", None)
    if path is None or offset is None or not images.flags.c_contiguous or not hasattr(os, "preadv"):
        return np.asarray(images[rows])
    out = np.empty((len(rows), *images.shape[1:]), dtype=images.dtype)
    size = out[0].nbytes if len(rows) else 0
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    fd = os.open(path, os.O_RDONLY)
    try:
        for i, row in enumerate(rows.tolist()):
            os.preadv(fd, [buffer[i * size : (i + 1) * size]], offset + row * size)
    finally:
        os.close(fd)
    return out


def check_batch(x: torch.Tensor, image_shape: tuple[int, int, int], what: str) -> torch.Tensor:
    """Validate images for a model of ``image_shape`` (C, H, W); returns (N, C, H, W) float.

    Accepts (N, C, H, W), (N, H, W) for one channel, or (N, C*H*W) flattened; uint8 is scaled
    from [0, 255]. Raises VaekitError naming ``what`` and both shapes otherwise.
    """
    x = torch.as_tensor(x)
    c, h, w = image_shape
    if x.dim() == 2 and x.shape[1] == c * h * w:
        x = x.reshape(-1, c, h, w)
    elif x.dim() == 3 and c == 1:
        x = x[:, None]
    if x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
        raise VaekitError(f"{what}: expected images of shape (N, {c}, {h}, {w}) (or (N, {c * h * w}) "
                          f"flattened) to match the model, got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    x = x.float()
    if len(x) and (float(x.min()) < 0 or float(x.max()) > 1):
        raise VaekitError(f"{what}: expected pixel values in [0, 1] (or uint8), got "
                          f"[{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x
