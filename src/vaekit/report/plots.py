"""Image grids drawn with Pillow (no torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaekit.files import atomic_write


def grid_array(images: torch.Tensor, nrow: int = 8, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile images (N, C, H, W) in [0, 1] into one (H', W', C) uint8 array, ``nrow`` per row.

    Grey images stay single-channel; ``scale`` enlarges by pixel repetition for small images.
    """
    images = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = images.shape
    cols = min(nrow, n)
    rows = (n + cols - 1) // cols
    # Pad each tile on its right and bottom, fill the last row with blanks, then fold the
    # (rows, cols) tiles into one canvas: (rows*cols, C, h+p, w+p) -> (C, rows*(h+p), cols*(w+p)).
    tiles = torch.ones((rows * cols, c, h + pad, w + pad))
    tiles[:n, :, :h, :w] = images
    canvas = tiles.view(rows, cols, c, h + pad, w + pad).permute(2, 0, 3, 1, 4)
    canvas = canvas.reshape(c, rows * (h + pad), cols * (w + pad))
    canvas = torch.nn.functional.pad(canvas, (pad, 0, pad, 0), value=1.0)
    arr = (canvas * 255).round().byte().permute(1, 2, 0).numpy()
    if scale > 1:
        arr = arr.repeat(scale, 0).repeat(scale, 1)
    return arr


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, pad: int = 2) -> Path:
    """Write a PNG grid of images (N, C, H, W) in [0, 1] atomically; small images are enlarged
    (their longer side to about 64 pixels)."""
    # by the longer side: a row of features (1 x F, scikit-learn's transformer) enlarged 64 times
    # made a 600 x 6,000 pixel grid, 27 ms to encode, twice an epoch
    arr = grid_array(images, nrow, pad, scale=max(1, 64 // max(images.shape[-2:])))
    img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    return atomic_write(path, lambda p: img.save(p, format="PNG"))


def _figure_png(fig, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110, bbox_inches="tight"))


def scatter_panels(panels: list[tuple[str, np.ndarray, np.ndarray | None]], path: str | Path,
                   class_names: list[str] | None = None, axis_names=("z1", "z2"),
                   prior_circles: bool = True, same_scale: bool = True) -> Path:
    """Side-by-side scatter plots of 2-D points, coloured by label, written as a PNG.

    panels: (title, points (N, 2), labels (N,) or None). With ``same_scale`` every panel shares
    the axis limits that hold all points; ``prior_circles`` draws the 1, 2 and 3 sigma circles of
    N(0, I). Uses matplotlib's object API (no pyplot, no global state).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    fig = Figure(figsize=(5.2 * len(panels), 5.0))
    limit = max(float(np.abs(p).max()) for _, p, _ in panels) * 1.05
    limit = max(limit, 3.5 if prior_circles else 0.0)
    n_classes = len(class_names) if class_names else 0
    cmap = "tab10" if n_classes <= 10 else "turbo"
    for i, (title, points, labels) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        if labels is None:
            ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5, color="tab:blue")
        else:
            sc = ax.scatter(points[:, 0], points[:, 1], c=labels, s=3, alpha=0.6, cmap=cmap,
                            vmin=-0.5, vmax=max(n_classes, 1) - 0.5)
            if class_names and n_classes <= 10 and i == len(panels) - 1:
                cb = fig.colorbar(sc, ax=ax, ticks=range(n_classes), fraction=0.046)
                cb.ax.set_yticklabels(class_names)
        if prior_circles:
            for r in (1, 2, 3):
                ax.add_patch(Circle((0, 0), r, fill=False, ls="--", lw=1, color="black", alpha=0.6))
                ax.annotate(f"{r}σ", (r * 0.71, r * 0.71), fontsize=8, alpha=0.8)
        if same_scale:
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_aspect("equal")
        ax.set_title(title)
        ax.set_xlabel(axis_names[0])
        ax.set_ylabel(axis_names[1])
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _figure_png(fig, path)


def bars(series: dict[str, list[float]], path: str | Path, title: str, xlabel: str,
         ylabel: str, labels: list[str] | None = None) -> Path:
    """Grouped bar chart, one group per index and one bar per named series, as a PNG.

    labels: names for the groups on the x axis (default: their indices).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(5.0, 0.35 * len(next(iter(series.values()))) + 3), 3.6))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        xs = np.arange(len(values)) + k * width
        ax.bar(xs, values, width=width, label=name)
    if labels is not None:
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
        ax.set_xticklabels(labels, rotation=90 if max(map(len, labels)) > 3 else 0, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _figure_png(fig, path)


def factor_figure(info: np.ndarray, factors: list[str], strips: torch.Tensor, steps: int,
                  path: str | Path, title: str) -> Path:
    """A latent x factor heat map beside each dimension's traversal, labelled with the factor
    that dimension shares the most information with, as a PNG.

    info: (D, K) mutual information in nats; strips: (D * steps, C, H, W) in [0, 1], one row of
    ``steps`` decoded images per dimension (vaekit.tasks.latent.traverse).
    """
    from matplotlib.figure import Figure

    d, k = info.shape
    fig = Figure(figsize=(3.0 + 0.6 * k + 0.55 * steps, 1.0 + 0.5 * d))
    grid = fig.add_gridspec(1, 2, width_ratios=[0.6 * k + 1.2, 0.55 * steps])
    ax = fig.add_subplot(grid[0])
    im = ax.imshow(info, cmap="viridis", aspect="auto", vmin=0)
    ax.set_xticks(range(k), factors, rotation=45, ha="right")
    ax.set_yticks(range(d), [f"z{i}" for i in range(d)])
    for i in range(d):
        for j in range(k):
            ax.text(j, i, f"{info[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if info[i, j] < 0.6 * info.max() else "black")
    fig.colorbar(im, ax=ax, fraction=0.05, label="mutual information (nats)")
    ax.set_title(title)
    right = fig.add_subplot(grid[1])
    right.imshow(grid_array(strips, nrow=steps, pad=1), cmap="gray", aspect="equal")
    best = info.argmax(1)
    labels = [f"z{i}: {factors[best[i]]}" if info[i, best[i]] > 0.05 else f"z{i}: -" for i in range(d)]
    side = strips.shape[-2] + 1
    right.set_yticks([1 + side * (i + 0.5) for i in range(d)], labels)
    right.set_xticks([])
    right.set_title("each dimension from -3 to 3, the others at 0")
    fig.tight_layout()
    return _figure_png(fig, path)


def labelled_strips(strips: torch.Tensor, steps: int, labels: list[str], path: str | Path,
                    title: str) -> Path:
    """Rows of decoded images, each named on the left, as a PNG: strips (R * steps, C, H, W) in
    [0, 1], one row of ``steps`` images per label."""
    from matplotlib.figure import Figure

    rows = len(labels)
    fig = Figure(figsize=(1.6 + 0.6 * steps, 0.8 + 0.6 * rows))
    ax = fig.add_subplot()
    ax.imshow(grid_array(strips, nrow=steps, pad=1), cmap="gray", aspect="equal")
    side = strips.shape[-2] + 1
    ax.set_yticks([1 + side * (i + 0.5) for i in range(rows)], labels)
    ax.set_xticks([])
    ax.set_title(title)
    fig.tight_layout()
    return _figure_png(fig, path)


def pil_image(image) -> Image.Image:
    """A Pillow image of one image tensor (C, H, W) in [0, 1] or a uint8 array (H, W, C);
    one channel becomes greyscale ("L")."""
    if isinstance(image, torch.Tensor):
        image = (image.detach().float().clamp(0, 1).cpu() * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write one image (C, H, W) in [0, 1] at its own size, atomically; the format follows the
    suffix (PNG when there is none Pillow knows)."""
    img = pil_image(image)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    return atomic_write(path, lambda p: img.save(p, format=fmt))


def heatmap_rgb(values: torch.Tensor, vmax: float | None = None) -> torch.Tensor:
    """Colour maps (N, H, W) of non-negative values -> (N, 3, H, W) RGB in [0, 1] (inferno).

    Every map shares one scale, 0 to ``vmax`` (default: the largest value), so maps compare.
    """
    from matplotlib import colormaps

    top = float(values.max()) if vmax is None else vmax
    scaled = (values.detach().float().cpu() / max(top, 1e-12)).clamp(0, 1).numpy()
    rgb = colormaps["inferno"](scaled)[..., :3]  # (N, H, W, 3)
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float()
