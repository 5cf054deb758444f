"""Attribute labels for images: which pictures show glasses, a beard, a smile.

Two ways to give them (``vaekit attributes RUN --labels ...``):

    a CSV file   a header row, then one row per image: the first column ``index`` (the image's
                 place among the data set's training images) or ``path`` (an image file, relative
                 to the CSV's folder), then one column per attribute, 0/1 or any number; an empty
                 cell is "not labelled" for that attribute. Lines starting with # are notes.
    a folder     one sub-folder per attribute (``glasses/``, ``beard/``, ...): an image is 1 for
                 its own sub-folder's attribute and 0 for the others.

Built-in data sets may ship their own (``builtin_labels``): the ORL faces do.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.datasets.decode import EXTENSIONS
from vaekit.errors import VaekitError

LABELS_DIR = Path(__file__).parent / "labels"
KEYS = ("index", "path")


@dataclass
class Labels:
    """Attribute values of some images.

    names:  the attributes, in the file's order
    values: (N, A) float64, NaN where an image is not labelled for an attribute
    index:  (N,) int64 places among the data set's training images, or None when ``paths`` is set
    paths:  N image files, or None when ``index`` is set
    source: where they came from (a file or folder), for messages and the record
    """

    names: list[str]
    values: np.ndarray
    index: np.ndarray | None
    paths: list[Path] | None
    source: str


def builtin_labels(data: str) -> Path | None:
    """The labels file shipped for a built-in data set, or None."""
    path = LABELS_DIR / f"{data}.csv"
    return path if path.is_file() else None


def read_labels(spec: str | Path) -> Labels:
    """Read a labels CSV or a folder of attribute sub-folders; VaekitError naming ``labels`` (with
    the file and line) for anything that is not as described in this module's docstring."""
    path = Path(spec)
    if path.is_dir():
        return _from_folders(path)
    if not path.is_file():
        raise VaekitError(f"expected a CSV file or a folder of attribute sub-folders, found no {path}",
                          "labels")
    return _from_csv(path)


def _from_csv(path: Path) -> Labels:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise VaekitError(f"{path}: cannot be read as UTF-8 text ({e})", "labels") from None
    rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), 1)
            if row and not row[0].lstrip().startswith("#")]
    if not rows:
        raise VaekitError(f"{path}: expected a header row (index or path, then attributes), found no rows",
                          "labels")
    (_, header), body = rows[0], rows[1:]
    header = [h.strip() for h in header]
    key = header[0].lower()
    if key not in KEYS or len(header) < 2:
        raise VaekitError(f"{path} line {rows[0][0]}: expected a header 'index' or 'path' followed by "
                          f"attribute names, found {','.join(header)!r}", "labels")
    names = header[1:]
    if len(set(names)) != len(names) or not all(names):
        raise VaekitError(f"{path} line {rows[0][0]}: expected distinct, non-empty attribute names, "
                          f"found {names}", "labels")
    if not body:
        raise VaekitError(f"{path}: expected at least one labelled image, found only the header", "labels")
    values = np.full((len(body), len(names)), np.nan)
    keys = []
    for i, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise VaekitError(f"{path} line {line}: expected {len(header)} columns, found {len(row)}",
                              "labels")
        keys.append(_key(row[0].strip(), key, path, line))
        for j, cell in enumerate(row[1:]):
            values[i, j] = _number(cell.strip(), names[j], path, line)
    if key == "index":
        index = np.asarray(keys, np.int64)
        return Labels(names, values, index, None, str(path))
    return Labels(names, values, None, keys, str(path))


def _key(cell: str, key: str, path: Path, line: int):
    if key == "index":
        if not cell.isdigit():
            raise VaekitError(f"{path} line {line}: column index: expected an image index (0, 1, ...), "
                              f"found {cell!r}", "labels")
        return int(cell)
    image = (path.parent / cell) if not Path(cell).is_absolute() else Path(cell)
    if not image.is_file():
        raise VaekitError(f"{path} line {line}: column path: expected an image file, found no {image}",
                          "labels")
    return image


def _number(cell: str, name: str, path: Path, line: int) -> float:
    if cell == "":
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise VaekitError(f"{path} line {line}: column {name}: expected a number (or an empty cell), "
                          f"found {cell!r}", "labels")
    return value


def _from_folders(root: Path) -> Labels:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    files = [sorted(f for f in d.rglob("*") if f.suffix.lower() in EXTENSIONS and f.is_file())
             for d in folders]
    used = [(d.name, fs) for d, fs in zip(folders, files, strict=True) if fs]
    if len(used) < 2:
        raise VaekitError(f"{root}: expected at least two sub-folders of images, one per attribute, found "
                          f"{len(used)}", "labels")
    names = [name for name, _ in used]
    paths = [f for _, fs in used for f in fs]
    values = np.zeros((len(paths), len(names)))
    start = 0
    for j, (_, fs) in enumerate(used):
        values[start : start + len(fs), j] = 1
        start += len(fs)
    return Labels(names, values, None, paths, str(root))
