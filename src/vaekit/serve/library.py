"""The runs a server shows, addressed by id, and what the page needs of each, computed once.

A client never names a file: runs are found by scanning the folders given to ``vaekit serve``
and are addressed by a short id derived from their resolved path. A bounded cache keeps the most
recently used runs loaded (model in eval mode, the test codes and their plane, the test set's
reconstruction errors); inference on one run is serialised by its lock, so a burst of requests
never oversubscribes the two cores a laptop has.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from vaekit.errors import VaekitError
from vaekit.run import Run
from vaekit.run.find import find_runs, run_row

LOADED_RUNS = 6        # runs kept in memory at once (least recently used goes first)
SCATTER_POINTS = 2000  # test codes drawn on the map (a fixed random subset beyond that)
SCORED_IMAGES = 2000   # test images whose reconstruction error places an upload's score
UPLOADS = 64           # uploaded images kept (per server), least recently used goes first
MAX_Z = 1e4            # largest latent coordinate a client may ask to decode


class NotFound(VaekitError):
    """A run, an upload or a file the client asked for does not exist (HTTP 404)."""


def run_id(path: Path) -> str:
    """A run's id: stable for its folder, opaque to the client (never a path)."""
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]


def png(image) -> bytes:
    """One image (C, H, W) in [0, 1], or a uint8 array (H, W, C) such as a grid, as PNG bytes."""
    from vaekit.report.plots import pil_image

    buf = io.BytesIO()
    pil_image(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def data_url(image: torch.Tensor) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png(image)).decode()


PRINCIPAL = 6  # principal directions the Describe view offers


class Loaded:
    """One run, loaded: its model and the views of its test split the page asks for."""

    def __init__(self, run: Run):
        self.run = run
        self.lock = threading.Lock()

    @cached_property
    def model(self):
        return self.run.model

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @cached_property
    def test(self):
        return self.run.splits.test

    @cached_property
    def _encoded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and standard deviations (N, D) of the test split."""
        from vaekit.models.inference import encode_spread

        with self.lock, torch.inference_mode():
            return encode_spread(self.model, self.test)

    @cached_property
    def plane(self) -> dict:
        """The plane the map draws: 2-D codes as they are; larger ones on their first two
        principal directions (orthonormal rows ``basis`` (2, D); a point's map coordinates are
        its code projected on them, so the prior's circles keep radius 1, 2, 3)."""
        codes = self._encoded[0]
        d = codes.shape[1]
        mean = codes.mean(0)
        if d == 1:
            basis = torch.zeros(2, 1)
            basis[0, 0] = 1.0
        elif d == 2:
            basis = torch.eye(2)
        else:
            _, _, v = torch.linalg.svd(codes - mean, full_matrices=False)
            basis = v[:2]
        return {"basis": basis, "mean": mean}

    @cached_property
    def scatter(self) -> dict:
        codes, _ = self._encoded
        n = len(codes)
        keep = (torch.randperm(n, generator=torch.Generator().manual_seed(0))[:SCATTER_POINTS].sort().values
                if n > SCATTER_POINTS else torch.arange(n))
        xy = codes[keep] @ self.plane["basis"].T
        labels = self.test.all_labels()
        lo = torch.quantile(xy, 0.005, dim=0) if len(xy) > 1 else xy.min(0).values
        hi = torch.quantile(xy, 0.995, dim=0) if len(xy) > 1 else xy.max(0).values
        return {
            "points": xy.round(decimals=4).tolist(),
            "index": keep.tolist(),
            "labels": labels[keep].tolist() if labels is not None else None,
            "class_names": self.run.class_names,
            "axes": ["z1", "z2"] if self.latent_dim <= 2 else ["PC1", "PC2"],
            "extent": [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])],
            "basis": self.plane["basis"].tolist(),
            "mean": self.plane["mean"].tolist(),
            "latent_dim": self.latent_dim,
            "conditional": self.model.conditional,
            "test_images": len(self.test),
        }

    def describe(self) -> dict:
        """What the Describe view's sliders move along: the attributes found for the run
        (``vaekit attributes``: name -> direction, held-out accuracy) and the test codes' first
        principal directions, each scaled to one standard deviation of the codes along it and
        shown by the faces two of those steps either side of the average code."""
        found = self.run.attributes.get("attributes", {})  # read each time: `vaekit attributes` may rerun
        return {**self._principal,
                "attributes": {n: {"direction": a["direction"],
                                   "accuracy": a["held_out"]["balanced_accuracy"]} for n, a in found.items()}}

    @cached_property
    def _principal(self) -> dict:
        codes = self._encoded[0].double()
        centre = codes.mean(0)
        k = min(PRINCIPAL, codes.shape[1], max(len(codes) - 1, 1))
        _, sv, v = torch.linalg.svd(codes - centre, full_matrices=False)
        sd = sv[:k] / max(len(codes) - 1, 1) ** 0.5
        steps = v[:k] * sd[:, None]  # (k, D): one standard deviation along each
        ends = centre + torch.stack([-2 * steps, 2 * steps], 1)  # (k, 2, D)
        label = self._label(None, 2 * k)
        with self.lock, torch.inference_mode():
            faces = self.model.decode(ends.reshape(-1, codes.shape[1]).float(), label).float()
        return {
            "latent_dim": self.latent_dim, "centre": centre.tolist(),
            "principal": [{"direction": steps[i].tolist(), "share": float(sv[i] ** 2 / (sv ** 2).sum()),
                           "ends": [data_url(faces[2 * i]), data_url(faces[2 * i + 1])]} for i in range(k)],
        }

    def code_of(self, image: torch.Tensor, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation (D,) of one image (C, H, W) [of class ``label``,
        for a conditional model: class 0 when unknown]."""
        with self.lock, torch.inference_mode():
            q = self.model.encode(image[None], self._label(label, 1))
        return q.mode()[0].float(), q.std[0].float()

    def _label(self, label: int | None, n: int) -> torch.Tensor | None:
        if not self.model.conditional:
            return None
        names = max(len(self.run.class_names), 1)
        k = 0 if label is None else label
        if not 0 <= k < max(names, self.model.config.num_classes or 1):
            raise VaekitError(f"label: expected a class index from 0 to {names - 1}, found {label}")
        return torch.full((n,), k, dtype=torch.long)

    def decode(self, z: list, label: int | None = None) -> torch.Tensor:
        """Decode one code given as a list of D numbers: (C, H, W)."""
        if not isinstance(z, list) or len(z) != self.latent_dim:
            raise VaekitError(f"z: expected a list of {self.latent_dim} numbers, found "
                              f"{len(z) if isinstance(z, list) else type(z).__name__}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   and abs(v) <= MAX_Z for v in z):
            raise VaekitError(f"z: expected finite numbers of size at most {MAX_Z:g}")
        with self.lock, torch.inference_mode():
            return self.model.decode(torch.tensor([z], dtype=torch.float32), self._label(label, 1))[0]

    def traverse(self, dim: int, steps: int = 9) -> torch.Tensor:
        """Dimension ``dim`` from -3 to 3, the others at 0: (steps, C, H, W)."""
        from vaekit.tasks.latent import traverse

        if not 0 <= dim < self.latent_dim:
            raise VaekitError(f"dim: expected a latent dimension from 0 to {self.latent_dim - 1}, "
                              f"found {dim}")
        with self.lock, torch.inference_mode():
            return traverse(self.model, dims=[dim], steps=steps)

    def reconstruct(self, images: torch.Tensor, label: int | None = None) -> torch.Tensor:
        with self.lock, torch.inference_mode():
            return self.model.reconstruct(images, self._label(label, len(images)))

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int,
                    label: int | None = None) -> torch.Tensor:
        """Decode ``steps`` codes on the line from image a's code to image b's: (steps, C, H, W);
        a conditional model keeps ``label`` (class 0 when unknown) along the way."""
        from vaekit.tasks.latent import interpolate

        label = int(self._label(label, 1)[0]) if self.model.conditional else None
        with self.lock, torch.inference_mode():
            return interpolate(self.model, a, b, steps, label)

    def test_label(self, index: int) -> int | None:
        """The class of test image ``index`` (None for unlabelled data)."""
        labels = self.test.take_labels(torch.tensor([index]))
        return int(labels[0]) if labels is not None else None

    @cached_property
    def test_errors(self) -> np.ndarray:
        """Mean squared reconstruction error per pixel of (up to) SCORED_IMAGES test images, sorted."""
        from vaekit.models.inference import map_batches

        n = min(len(self.test), SCORED_IMAGES)
        idx = torch.arange(n)
        x = self.test.take(idx)
        from vaekit.datasets import to_float

        x = to_float(x)
        labels = self.test.take_labels(idx) if self.model.conditional else None
        with self.lock, torch.inference_mode():
            (errors,) = map_batches(self.model, lambda b, y: (self.model.reconstruct(b, y) - b)
                                    .pow(2).flatten(1).mean(1), x, labels)
        return np.sort(errors.numpy())

    def sample(self, n: int, sampler: str | None, seed: int, label: int | None) -> torch.Tensor:
        labels = self._label(label, n) if label is not None else None
        with self.lock, torch.inference_mode():
            return self.run.sample(n, sampler=sampler, seed=seed, labels=labels)


class Library:
    """The runs below the served folders, by id, with a bounded cache of loaded ones."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r) for r in roots]
        self._loaded: OrderedDict[str, Loaded] = OrderedDict()
        self._paths: dict[str, Path] = {}
        self._lock = threading.Lock()
        self.uploads: OrderedDict[str, torch.Tensor] = OrderedDict()  # uint8 (C, H, W) each

    def rows(self) -> list[dict]:
        """One row per run (see ``vaekit.run.find``), with its id; refreshes the id table."""
        rows, paths = [], {}
        for root in self.roots:
            row = run_row(root)  # the root is a run folder itself
            if row is not None:
                found, base = [row], root.parent
            else:
                found, base = (find_runs(root) if root.is_dir() else []), root
            for row in found:
                path = (base / row["run"]).resolve()
                rid = run_id(path)
                if rid in paths:
                    continue
                paths[rid] = path
                group = Path(row["run"]).parent.as_posix()
                rows.append(dict(row, id=rid, group="" if group == "." else group))
        with self._lock:
            self._paths = paths
        return rows

    def add_root(self, folder: Path) -> None:
        """Show the runs below ``folder`` too (where the page's trainings go)."""
        folder = Path(folder)
        with self._lock:
            if all(folder.resolve() != r.resolve() for r in self.roots):
                self.roots.append(folder)

    def path(self, rid: str) -> Path:
        if not (isinstance(rid, str) and len(rid) == 10 and all(c in "0123456789abcdef" for c in rid)):
            raise VaekitError("expected a run id (10 hex digits, as /api/runs lists them), "
                              f"found {str(rid)[:40]!r}")
        if rid not in self._paths:
            self.rows()
        if rid not in self._paths:
            raise NotFound(f"no run with id {rid} (it may have been moved or deleted)")
        return self._paths[rid]

    def get(self, rid: str) -> Loaded:
        path = self.path(rid)
        with self._lock:
            if rid in self._loaded:
                self._loaded.move_to_end(rid)
                return self._loaded[rid]
            loaded = self._loaded[rid] = Loaded(Run.open(path))
            while len(self._loaded) > LOADED_RUNS:
                self._loaded.popitem(last=False)
            return loaded

    def forget(self, rid: str) -> None:
        """Drop a loaded run (its files changed: a training run that went on)."""
        with self._lock:
            self._loaded.pop(rid, None)

    def default_pair(self) -> list[str]:
        """The AE and the VAE of a comparison (``make demo``'s runs/demo) when the served folders
        hold one: the runs the page opens side by side."""
        rows = self.rows()
        by_group: dict[str, dict[str, str]] = {}
        for r in rows:
            by_group.setdefault(r["group"], {})[Path(r["run"]).name] = r["id"]
        for group in sorted(by_group, key=lambda g: (g != "", g)):
            names = by_group[group]
            if "ae" in names and "vae" in names:
                return [names["ae"], names["vae"]]
        return []

    # ------------------------------------------------------------------ uploads
    def add_upload(self, image: torch.Tensor) -> str:
        import secrets

        uid = secrets.token_hex(8)
        with self._lock:
            self.uploads[uid] = image
            while len(self.uploads) > UPLOADS:
                self.uploads.popitem(last=False)
        return uid

    def upload(self, uid: str) -> torch.Tensor:
        with self._lock:
            if uid not in self.uploads:
                raise NotFound(f"no upload with id {str(uid)[:40]!r} (uploads are kept in memory; "
                               "upload it again)")
            return self.uploads[uid]
