"""Walking the latent space: codes of a data set, the decoded 2-D manifold, interpolation between
two images, and traversal of each latent dimension. All work on posterior means (``mode()``).
"""

from __future__ import annotations

import torch

from vaekit.errors import VaekitError


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def manifold(model, n: int = 20, span: float = 3.0) -> torch.Tensor:
    """Decode an n x n grid of z over [-span, span]^2 (2-D latents only): (n*n, C, H, W).

    Rows go from +span (top) to -span (bottom) in z2, columns from -span to +span in z1, so the
    picture has the orientation of a scatter plot of the codes.
    """
    if model.latent_dim != 2:
        raise VaekitError(f"the manifold needs a 2-D latent space; this model has {model.latent_dim}"
                          " dimensions (use `vaekit traverse` instead)")
    ticks = torch.linspace(-span, span, n)
    z2, z1 = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1).to(_device(model))
    return model.decode(z).cpu()


@torch.no_grad()
def interpolate(model, a: torch.Tensor, b: torch.Tensor, steps: int = 10,
                label: int | None = None) -> torch.Tensor:
    """Decode ``steps`` points on the line between the posterior means of images a and b.

    a, b: (C, H, W) in [0, 1]. label: the class both are encoded and decoded with, for a
    conditional model. Returns (steps, C, H, W); the first and last are the reconstructions of
    a and b.
    """
    device = _device(model)
    y1 = torch.tensor([label], device=device) if label is not None else None
    za = model.encode(a[None].to(device), y1).mode()
    zb = model.encode(b[None].to(device), y1).mode()
    t = torch.linspace(0, 1, steps, device=device)[:, None]
    return model.decode((1 - t) * za + t * zb, y1.expand(steps) if y1 is not None else None).cpu()


@torch.no_grad()
def traverse(model, x: torch.Tensor | None = None, dims: list[int] | None = None,
             span: float = 3.0, steps: int = 9) -> torch.Tensor:
    """Vary one latent dimension at a time over [-span, span], the others held at a base code.

    x: (C, H, W) image whose posterior mean is the base code; None uses the prior mean z = 0.
    dims: which dimensions (default: all, at most 16). Returns (len(dims) * steps, C, H, W), one
    row per dimension.
    """
    device = _device(model)
    base = (model.encode(x[None].to(device)).mode()[0] if x is not None
            else torch.zeros(model.latent_dim, device=device))
    dims = list(range(min(model.latent_dim, 16))) if dims is None else dims
    values = torch.linspace(-span, span, steps, device=device)
    z = base.repeat(len(dims) * steps, 1)
    for row, d in enumerate(dims):
        z[row * steps : (row + 1) * steps, d] = values
    return model.decode(z).cpu()


def pick_pairs(size: int, labels: torch.Tensor | None, class_names: list[str] | None, n: int,
               generator: torch.Generator) -> list[tuple[int, int]]:
    """``n`` index pairs of test images to interpolate between: a '1' and a '7' first where those
    classes exist (the seeds' example), then pairs of different classes, or random pairs when
    the data is unlabelled."""
    pairs = []
    if labels is not None and class_names and "1" in class_names and "7" in class_names:
        one = int((labels == class_names.index("1")).nonzero()[0])
        seven = int((labels == class_names.index("7")).nonzero()[0])
        pairs.append((one, seven))
    while len(pairs) < n and size > 1:
        a, b = torch.randint(size, (2,), generator=generator).tolist()
        if labels is None or labels[a] != labels[b]:
            pairs.append((a, b))
    return pairs


def pca_2d(codes: torch.Tensor) -> torch.Tensor:
    """Project codes (N, D) onto their first two principal components: (N, 2)."""
    centred = codes - codes.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v[:2].T


def code_scatter(model, images) -> dict:
    """The test codes of ``images`` (an ImageSet) ready for a scatter plot: {"panel": (title,
    (N, 2) points, labels or None), "axes", "circles"}: 2-D codes as they are (with the prior's
    circles), larger ones on their first two principal components."""
    from vaekit.models.inference import encode

    codes, _ = encode(model, images)
    labels = images.all_labels()
    lab = labels.numpy() if labels is not None else None
    title = f"{model.config.model.upper()}: {len(codes)} test codes"
    if model.latent_dim == 2:
        return {"panel": (title, codes.numpy(), lab), "axes": ("z1", "z2"), "circles": True}
    return {"panel": (title, pca_2d(codes).numpy(), lab), "axes": ("PC1", "PC2"), "circles": False}
