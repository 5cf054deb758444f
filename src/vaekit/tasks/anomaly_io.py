"""Scoring files and folders with a saved anomaly detector: a sorted CSV and a heat-map grid."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from vaekit import datasets
from vaekit.datasets import to_float
from vaekit.datasets.decode import EXTENSIONS
from vaekit.datasets.images import load_images, read_files
from vaekit.errors import VaekitError
from vaekit.models.inference import batches
from vaekit.report.plots import heatmap_rgb

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


def score_images(det, paths: list[str | Path], data: str | None = None, top: int = 16,
                 strict: bool = False) -> dict:
    """Score images with a fitted ``AnomalyDetector``.

    paths: image files or folders; or data: a built-in data set whose test split (else its
    training images) is scored, named ``DATA:INDEX``. Returns {"names", "scores" (N,),
    "labels" (N,) (1 = above the threshold), "order" (highest score first), "top": rows of up to
    8 of the ``top`` highest-scored images, their reconstructions and per-pixel squared-error
    maps on one colour scale (a tensor for a grid), "columns": images per row, "skipped": one
    reason per unreadable file left out (with ``strict`` the first one stops it instead)}.
    """
    shape = det.model_.config.image_shape
    skipped: list[str] = []
    if data is not None:
        loaded = datasets.load(data, shape[1], shape[0])
        images = loaded.test if loaded.test is not None else loaded.train
        names = [f"{data}:{i}" for i in range(len(images))]
        parts = [det.decision_function(x) for x, _ in batches(images, batch_size=CHUNK)]
    else:
        files = image_files(paths)
        names, parts = [], []
        for s in range(0, len(files), CHUNK):  # memory stays flat: one chunk decoded at a time
            x, kept, bad = read_files(files[s : s + CHUNK], shape, strict)
            names += [str(files[s + i]) for i in kept]
            skipped += bad
            parts.append(det.decision_function(x))
    scores = np.concatenate(parts)
    order = np.argsort(-scores, kind="stable")
    pick = order[:top]
    if data is not None:
        x = to_float(images.take(torch.as_tensor(pick, dtype=torch.long)))
    else:
        x = load_images([names[i] for i in pick], shape)
    grid, columns = _top_rows(det, x, shape)
    return {"names": names, "scores": scores, "labels": (scores > det.threshold_).astype(int),
            "order": order, "top": grid, "columns": columns, "skipped": skipped}


def scores_csv(result: dict) -> str:
    """The CSV text of ``score_images``' result: path, score, label; highest score first."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "score", "label"])
    names, scores, labels = result["names"], result["scores"], result["labels"]
    writer.writerows((names[i], f"{scores[i]:.6g}", int(labels[i])) for i in result["order"])
    return buf.getvalue()


def _top_rows(det, x: torch.Tensor, shape) -> tuple[torch.Tensor, int]:
    """Rows of up to 8: images, reconstructions, error maps; returns (images, columns)."""
    recon, err = det.error_maps(x)
    to_rgb = (lambda t: t.expand(-1, 3, -1, -1)) if shape[0] == 1 else (lambda t: t)
    maps = heatmap_rgb(err)
    cols = max(1, min(8, len(x)))
    pad = lambda t: torch.cat([t, torch.ones((cols - len(t), *t.shape[1:]))])  # noqa: E731 -- fill a short last row
    rows = []
    for s in range(0, len(x), cols):
        rows += [pad(to_rgb(x[s : s + cols])), pad(to_rgb(recon[s : s + cols])), pad(maps[s : s + cols])]
    return torch.cat(rows), cols
