"""VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning").

The encoder's output is cut into N code vectors of E dimensions (``--code-dim``), laid on a grid:
the encoder's own h x w feature map for the conv and resnet backbones (a 1x1 convolution gives
each position its vector), a near-square grid of the flat code for the MLP. Each vector is
replaced by the nearest of K codebook vectors (``--codebook-size``); gradients pass the rounding
straight through to the encoder. The codebook follows the vectors assigned to it as exponential
moving averages (the paper's appendix; Razavi et al. 2019), and the encoder is held to its
choices by the commitment cost (``vq`` objective).

Downstream a VQ-VAE is a model like the others: ``encode`` gives a posterior whose ``mode`` is
the quantized code (B, D = N * E), and the decoder reads it. Its prior is categorical over the
code grid: uniform while the autoencoder trains, then a gated PixelCNN over the indices fitted by
``vaekit train-prior`` (``models.pixelcnn``), which sampling, the report and the page use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaekit.models.posterior import PointPosterior, PosteriorKind
from vaekit.registry import POSTERIORS, PRIORS
from vaekit.settings import int_in, setting

DECAY = 0.99  # EMA decay of the codebook statistics (the paper's gamma)
EPS = 1e-5  # Laplace smoothing of the cluster sizes, so an empty code never divides by 0


def grid_shape(n: int) -> tuple[int, int]:
    """The most nearly square (rows, cols) with rows * cols = n: 16 -> (4, 4), 12 -> (3, 4)."""
    rows = max(r for r in range(1, math.isqrt(n) + 1) if n % r == 0)
    return rows, n // rows


class QuantizedCode(PointPosterior):
    """What a VQ-VAE's ``encode`` returns: a point code, like an autoencoder's (``sample`` and
    ``mode`` give it back), plus its indices.

    code: (B, D) quantized vectors with straight-through gradients to the encoder.
    indices: (B, N) codebook entries. commitment: (B,) sum of |z_e - sg(z_q)|^2 per image.
    """

    def __init__(self, code: torch.Tensor, indices: torch.Tensor, commitment: torch.Tensor, prior=None):
        super().__init__(code, prior)
        self.indices = indices
        self.commitment = commitment

    def kl(self) -> torch.Tensor:
        """N log K per image, (B,): KL of a one-hot q to the uniform prior the autoencoder trains
        under -- a constant, so it is reported and never optimised."""
        k = self.prior.codebook_size if self.prior is not None else 1
        n = self.indices.shape[1]
        return self.mean.new_full((self.mean.shape[0],), n * math.log(k), dtype=torch.float32)

    def kl_per_dim(self) -> None:
        return None


class Quantizer(nn.Module):
    """The VQ-VAE's head: encoder features (B, F) -> ``QuantizedCode``.

    codebook: (K, E) buffer, updated in training mode by EMA (no optimiser gradient): each entry
    moves to the running mean of the vectors assigned to it. An entry no vector has picked for a
    long while (its smoothed count under 1e-3) is restarted at a random vector of the batch, so
    the codebook does not collapse onto a few entries.
    """

    def __init__(self, in_features: int, config, encoder: nn.Module):
        super().__init__()
        e, k, d = config.code_dim, config.codebook_size, config.latent_dim
        fmap = getattr(encoder, "feature_shape", None)  # (c, h, w) of a convolutional encoder
        if fmap is not None:
            self.grid = tuple(fmap[1:])
            self.project = nn.Sequential(nn.Unflatten(1, fmap), nn.Conv2d(fmap[0], e, 1))
        else:
            self.grid = grid_shape(d // e)
            self.project = nn.Linear(in_features, d)
        self.positions, self.code_dim = self.grid[0] * self.grid[1], e
        g = torch.Generator().manual_seed(0)
        start = torch.randn((k, e), generator=g)
        self.register_buffer("codebook", start.clone())
        self.register_buffer("cluster_size", torch.ones(k))
        self.register_buffer("embed_sum", start.clone())

    def vectors(self, h: torch.Tensor) -> torch.Tensor:
        """Features (B, F) -> unquantized code vectors z_e (B, N, E), in grid order (row-major)."""
        z = self.project(h)
        if z.dim() == 4:  # (B, E, h, w) -> (B, h*w, E)
            return z.flatten(2).transpose(1, 2)
        return z.view(z.shape[0], self.positions, self.code_dim)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Vectors (M, E) -> index (M,) of the nearest codebook entry (squared distance)."""
        cb = self.codebook
        dist = z.pow(2).sum(1, keepdim=True) - 2 * z @ cb.t() + cb.pow(2).sum(1)
        return dist.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices (B, N) -> codes (B, N * E), what the decoder reads."""
        return self.codebook[indices].flatten(1)

    @torch.no_grad()
    def update(self, z: torch.Tensor, idx: torch.Tensor) -> None:
        """One EMA step of the codebook towards the vectors z (M, E) assigned to idx (M,)."""
        k = self.codebook.shape[0]
        counts = torch.bincount(idx, minlength=k).to(z.dtype)  # (K,)
        sums = torch.zeros_like(self.embed_sum).index_add_(0, idx, z)  # (K, E), no (M, K) one-hot
        self.cluster_size.mul_(DECAY).add_(counts, alpha=1 - DECAY)
        self.embed_sum.mul_(DECAY).add_(sums, alpha=1 - DECAY)
        n = self.cluster_size.sum()
        size = (self.cluster_size + EPS) / (n + k * EPS) * n
        self.codebook.copy_(self.embed_sum / size[:, None])
        # restart dead entries at batch vectors, by masks rather than indexing: no sync to the CPU
        dead = (self.cluster_size < 1e-3)[:, None]
        fresh = z[torch.randint(len(z), (k,), device=z.device)]
        self.codebook.copy_(torch.where(dead, fresh, self.codebook))
        self.embed_sum.copy_(torch.where(dead, fresh, self.embed_sum))
        self.cluster_size.copy_(torch.where(dead[:, 0], 1.0, self.cluster_size))

    def forward(self, h: torch.Tensor) -> QuantizedCode:
        z_e = self.vectors(h)  # (B, N, E)
        flat = z_e.reshape(-1, self.code_dim).float()
        idx = self.nearest(flat)
        if self.training:
            self.update(flat.detach(), idx)
        z_q = self.codebook[idx].view_as(z_e).to(z_e.dtype)
        commitment = (z_e - z_q.detach()).float().pow(2).sum((1, 2))
        code = z_e + (z_q - z_e).detach()  # straight through: forward z_q, gradient to z_e
        return QuantizedCode(code.flatten(1), idx.view(z_e.shape[0], -1), commitment)


@dataclass
class VQVAESettings:
    codebook_size: int = setting(512, "Vectors in the codebook (K).", check=int_in(1, 65536),
                                 expected="an integer from 1 to 65536")
    code_dim: int = setting(1, "Size of each code vector (E); the code is --latent-dim / E of them (on a "
                            "conv encoder's grid: grid positions x E = --latent-dim).",
                            check=int_in(1, 65536), expected="an integer from 1 to 65536")


def vq_problem(config) -> str | None:
    """Why a model config cannot be a VQ-VAE (None: it can): the code must split into --code-dim
    vectors, on the encoder's grid for a backbone whose encoder ends on a feature map."""
    from vaekit.registry import BACKBONES

    e, d = config.code_dim, config.latent_dim
    grid = getattr(BACKBONES[config.backbone], "grid", None)
    if grid is None:
        if d % e:
            return f"a multiple of --code-dim {e} (the code is cut into vectors of {e})"
        return None
    h, w = grid(config)
    if d != e * h * w:
        return (f"{e * h * w} for a VQ-VAE on the {config.backbone} backbone: its encoder's {h}x{w} "
                f"grid x --code-dim {e}")
    return None


class CodebookPrior(nn.Module):
    """Categorical over the code grid, from the codebook: uniform over the K entries at every
    position until ``vaekit train-prior`` fits its gated PixelCNN (van den Oord et al. 2016) to
    the training images' indices; then p(indices) = prod_i p(c_i | c_<i) in raster order."""

    def __init__(self, config):
        super().__init__()
        from vaekit.models.pixelcnn import GatedPixelCNN

        self.codebook_size = config.codebook_size
        self.pixelcnn = GatedPixelCNN(config.codebook_size)
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._owner = None

    @staticmethod
    def check(model: str, conditional: bool) -> str | None:
        """Only an unconditional VQ-VAE has a codebook grid to put this prior on."""
        if model == "vqvae" and not conditional:
            return None
        return "an unconditional vqvae model for the codebook prior"

    def bind(self, model) -> None:
        import weakref

        object.__setattr__(self, "_owner", weakref.ref(model))  # not a registered sub-module

    @property
    def quantizer(self) -> Quantizer:
        return self._owner().head

    def sample_indices(self, n: int, generator: torch.Generator | None = None,
                       device: torch.device | str | None = None) -> torch.Tensor:
        """n index grids (n, rows, cols): from the PixelCNN once fitted, else uniform."""
        q = self.quantizer
        where = generator.device if generator is not None else (device or q.codebook.device)
        if bool(self.fitted):
            return self.pixelcnn.sample(n, q.grid, generator)
        return torch.randint(self.codebook_size, (n, *q.grid), generator=generator, device=where)

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """n codes (n, D): sampled index grids looked up in the codebook."""
        idx = self.sample_indices(n, generator, device)
        return self.quantizer.lookup(idx.flatten(1).to(self.quantizer.codebook.device))

    def log_prob_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(indices) per grid (B,) for indices (B, N) in raster order."""
        q = self.quantizer
        if bool(self.fitted):
            return self.pixelcnn.log_prob(indices.view(-1, *q.grid))
        return indices.new_full((indices.shape[0],), -indices.shape[1] * math.log(self.codebook_size),
                                dtype=torch.float32)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for codes (..., D) on the codebook: each vector's nearest entry, scored."""
        q = self.quantizer
        flat = z.reshape(-1, q.code_dim).float()
        idx = q.nearest(flat).view(-1, q.positions)
        return self.log_prob_indices(idx).view(z.shape[:-1])

    def kl(self, q) -> torch.Tensor:
        return q.kl()

    def kl_per_dim(self, q) -> None:
        return None


def _quantized(code, prior):
    code.prior = prior  # the head (models.vq.Quantizer) already built it
    return code


POSTERIORS["quantized"] = PosteriorKind(1, _quantized, variational=False, head=Quantizer)
PRIORS["codebook"] = CodebookPrior
