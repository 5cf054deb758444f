"""Scoring files and folders with a saved anomaly detector: a sorted CSV and a heat-map grid."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from vaekit import datasets
from vaekit.datasets import to_float
from vaekit.datasets.folder import EXTENSIONS
from vaekit.errors import VaekitError
from vaekit.files import atomic_write
from vaekit.plots import heatmap_rgb, save_grid
from vaekit.tasks.generate import load_images

CHUNK = 1000  # images decoded and scored at a time, so memory stays flat for large folders


def image_files(paths: list[str | Path]) -> list[Path]:
    """Files as given, and every image file under each folder (sorted); errors name a bad path."""
    return [f for f, _ in named_image_files(paths)]


def named_image_files(paths: list[str | Path]) -> list[tuple[Path, str]]:
    """(file, name) pairs: a file given directly is named by its file name, a file found in a
    folder by its path relative to that folder (so ``class_0/1.png`` and ``class_1/1.png`` differ)."""
    files: list[tuple[Path, str]] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in EXTENSIONS and f.is_file())
            if not found:
                raise VaekitError(f"{p}: no image files in this folder")
            files += [(f, f.relative_to(p).as_posix()) for f in found]
        elif p.is_file():
            files.append((p, p.name))
        else:
            raise VaekitError(f"{p}: no such file or folder")
    return files


def score_to_csv(det, paths: list[str | Path], data: str | None, output: str | Path,
                 top: int = 16) -> tuple[Path, Path, int, int]:
    """Score images with a fitted ``AnomalyDetector`` and write ``output`` as CSV.

    paths: image files or folders; or data: a built-in data set whose test split (else its
    training images) is scored, named ``DATA:INDEX`` in the CSV. Rows are (path, score, label),
    highest score first; label 1 means above the detector's threshold. Also writes
    ``<output stem>_top.png``: the ``top`` highest-scored images, their reconstructions and
    per-pixel squared-error maps on one colour scale. Returns (csv, grid, flagged, total).
    """
    shape = det.model_.config.image_shape
    if data is not None:
        loaded = datasets.load(data, shape[1], shape[0])
        images = loaded.test if loaded.test is not None else loaded.train
        names = [f"{data}:{i}" for i in range(len(images))]
        batches = (to_float(images.take(torch.arange(s, min(s + CHUNK, len(images)))))
                   for s in range(0, len(images), CHUNK))
    else:
        files = image_files(paths)
        names = [str(f) for f in files]
        batches = (load_images(files[s : s + CHUNK], shape) for s in range(0, len(files), CHUNK))
    scores = np.concatenate([det.decision_function(x) for x in batches])
    order = np.argsort(-scores, kind="stable")
    labels = (scores > det.threshold_).astype(int)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "score", "label"])
    writer.writerows((names[i], f"{scores[i]:.6g}", int(labels[i])) for i in order)
    output = Path(output)
    atomic_write(output, buf.getvalue())
    grid = _top_grid(det, names, order[:top], data, images if data is not None else None, shape,
                     output.with_name(output.stem + "_top.png"))
    return output, grid, int(labels.sum()), len(scores)


def _top_grid(det, names, idx, data, imageset, shape, path: Path) -> Path:
    """Rows of up to 8: images, reconstructions, error maps, for the given positions."""
    if data is not None:
        x = to_float(imageset.take(torch.as_tensor(idx, dtype=torch.long)))
    else:
        x = load_images([names[i] for i in idx], shape)
    recon, err = det.error_maps(x)
    to_rgb = (lambda t: t.expand(-1, 3, -1, -1)) if shape[0] == 1 else (lambda t: t)
    maps = heatmap_rgb(err)
    cols = min(8, len(x))
    pad = lambda t: torch.cat([t, torch.ones((cols - len(t), *t.shape[1:]))])  # noqa: E731 -- fill a short last row
    rows = []
    for s in range(0, len(x), cols):
        rows += [pad(to_rgb(x[s : s + cols])), pad(to_rgb(recon[s : s + cols])), pad(maps[s : s + cols])]
    return save_grid(torch.cat(rows), path, nrow=cols)
