"""Data with known factors of variation, rendered by vaekit: no download, the same bytes everywhere.

``dsprites-like`` is the dSprites grid (Matthey et al. 2017): 3 shapes (square, ellipse, heart)
x 6 scales in [0.5, 1] x 40 orientations in [0, 2 pi) x 32 x 32 positions, 737,280 binary 64x64
images, enumerated in dSprites' order (the last factor fastest). It is "like" dSprites, not
dSprites: the shapes are drawn by the renderer below (dSprites' heart outline was never
published), so scores on it are comparable to each other and near, not equal, to published ones.
``dsprites-like-32`` is the same grid at 32x32 over 16 x 16 positions (184,320 images) for CPU
budgets; ``dsprites-like-48``, at 48x48 over 24 x 24 (414,720), sits between the two: its shapes
have 2.25 times the pixels of the 32x32 ones.

Geometry, chosen so that a sprite moves by whole pixels: sprite k along an axis is centred at
pixel ``S/4 + k`` of an S-pixel canvas, so every (shape, scale, orientation) is rasterised once,
into an (S/2 + 1)-pixel window, and pasted; the half-size of a square at scale 1 is 0.16 S. The
rasterisation uses only +, -, x and comparisons on float64 (the 40 rotations' sines and cosines
rounded to 12 decimals), which IEEE arithmetic gives identically on every CPU; a SHA-256 of each
grid is checked when it is rendered.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

SHAPES = ("square", "ellipse", "heart")
ORIENTATIONS = 40
SCALES = 6
HALF_SIZE = 0.16  # a square's half-side at scale 1, as a share of the canvas side
CHUNK = 8192  # images rendered at a time into the cache (memory stays flat)


@dataclass(frozen=True)
class FactorSet:
    """A grid of images over named factors, every combination once, in row-major order.

    side: the images' side in pixels; positions: steps along each axis.
    """

    name: str
    side: int
    positions: int
    sha256: str  # of the whole grid's pixels, in order: what every machine must render

    names = ("shape", "scale", "orientation", "pos_x", "pos_y")

    @property
    def sizes(self) -> tuple[int, ...]:
        """How many values each factor takes, in ``names``' order."""
        return (len(SHAPES), SCALES, ORIENTATIONS, self.positions, self.positions)

    def __len__(self) -> int:
        return math.prod(self.sizes)

    @property
    def description(self) -> str:
        return (f"dSprites-like shapes with known factors (shape, scale, orientation, x, y), "
                f"{self.side}x{self.side} binary, {len(self):,} images, rendered by vaekit")

    def values(self, factors: np.ndarray) -> np.ndarray:
        """Factor indices (N, 5) -> their values (N, 5) float: shape index, scale in [0.5, 1],
        orientation in [0, 2 pi), positions in [0, 1]."""
        f = np.asarray(factors, dtype=np.float64)
        return np.stack([f[:, 0], 0.5 + 0.1 * f[:, 1], 2 * math.pi * f[:, 2] / ORIENTATIONS,
                         f[:, 3] / (self.positions - 1), f[:, 4] / (self.positions - 1)], 1)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor combinations drawn uniformly and independently: (n, 5) int64 indices."""
        return np.stack([rng.integers(0, size, n) for size in self.sizes], 1).astype(np.int64)

    def index(self, factors: np.ndarray) -> np.ndarray:
        """Factor indices (N, 5) -> the rows of the grid holding those images (N,)."""
        return np.ravel_multi_index(tuple(np.asarray(factors).T), self.sizes)

    def factors(self, rows: np.ndarray) -> np.ndarray:
        """Grid rows (N,) -> their factor indices (N, 5) int64."""
        return np.stack(np.unravel_index(np.asarray(rows), self.sizes), 1).astype(np.int64)

    def images(self, factors: np.ndarray) -> np.ndarray:
        """The images of factor indices (N, 5): (N, 1, side, side) uint8, 0 or 255."""
        factors = np.asarray(factors, dtype=np.int64)
        sprite = (factors[:, 0] * SCALES + factors[:, 1]) * ORIENTATIONS + factors[:, 2]
        window = self.side // 2 + 1
        out = np.zeros((len(factors), self.side, self.side), dtype=np.uint8)
        offsets = np.arange(window)
        rows = factors[:, 4, None, None] + offsets[None, :, None]  # (N, W, 1): y, from the top
        cols = factors[:, 3, None, None] + offsets[None, None, :]  # (N, 1, W): x, from the left
        out[np.arange(len(factors))[:, None, None], rows, cols] = self._sprites[sprite]
        return out[:, None]

    @cached_property
    def _sprites(self) -> np.ndarray:
        """Every (shape, scale, orientation) rasterised in its window: (3 * 6 * 40, W, W) uint8."""
        quarter = self.side // 4
        d = np.arange(-quarter, quarter + 1, dtype=np.float64)  # pixel centres from the sprite's
        dy, dx = d[:, None], d[None, :]  # y grows downwards
        out = []
        for shape in range(len(SHAPES)):
            for scale in range(SCALES):
                h = HALF_SIZE * self.side * (0.5 + 0.1 * scale)
                for k in range(ORIENTATIONS):
                    t = 2 * math.pi * k / ORIENTATIONS
                    c, s = round(math.cos(t), 12), round(math.sin(t), 12)
                    u = (c * dx + s * dy) / h  # the pixel in the shape's own frame, rotated back
                    v = (c * dy - s * dx) / h
                    out.append(_inside(shape, u, v))
        return np.stack(out).astype(np.uint8) * 255

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """The whole grid in order, a chunk at a time: (first row, images (n, 1, side, side))."""
        for start in range(0, len(self), CHUNK):
            yield start, self.images(self.factors(np.arange(start, min(start + CHUNK, len(self)))))

    def digest(self) -> str:
        """SHA-256 of the whole grid's pixels."""
        h = hashlib.sha256()
        for _, block in self.chunks():
            h.update(block.tobytes())
        return h.hexdigest()


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Which points (u, v) of a shape's unit frame (v downwards) the shape covers."""
    if shape == 0:  # square of half-side 1
        return np.maximum(np.abs(u), np.abs(v)) <= 1.0
    if shape == 1:  # ellipse, semi-axes 1 and 0.5
        return u * u + 4.0 * v * v <= 1.0
    # heart: (x^2 + y^2 - 1)^3 <= x^2 y^3 with y upwards, scaled to about the square's extent
    x, y = 1.2 * u, -1.2 * v + 0.15
    r = x * x + y * y - 1.0
    return r * r * r <= x * x * y * y * y


FACTOR_SETS: dict[str, FactorSet] = {
    "dsprites-like": FactorSet("dsprites-like", 64, 32,
                               "7c2acd3b5e7d735b1b763d746d0da19c34f2f9265970d4d2c7f80e72d718330e"),
    "dsprites-like-32": FactorSet("dsprites-like-32", 32, 16,
                                  "36c1ee682725e47b47784bd533fbdb5107fadbc82f1da3fa5719281506e838df"),
    "dsprites-like-48": FactorSet("dsprites-like-48", 48, 24,
                                  "34ed02ea0c7ceda1c5d966a0d7a7fc5f466634cfe37d79f20c12125e4c36998f"),
}
