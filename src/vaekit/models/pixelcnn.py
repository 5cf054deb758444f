"""A small gated PixelCNN over a grid of code indices (van den Oord et al. 2016, "Conditional
Image Generation with PixelCNN Decoders"): the prior a VQ-VAE samples from.

p(c) = prod_i p(c_i | c_<i) in raster order. Two stacks keep the model causal without a blind
spot: the vertical stack sees the rows above, the horizontal stack the positions to the left in
the same row plus the vertical stack's summary of the rows above. Each layer's gate is
tanh(a) * sigmoid(b). Causality comes from zeroed kernel taps (fixed masks), so one forward pass
scores every position at once; sampling takes one pass per position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CHANNELS = 64
LAYERS = 6
KERNEL = 3


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer. first: the layer reading the input, which must not see the current
    position (mask A); the later ones may see their own position's features (mask B)."""

    def __init__(self, channels: int, first: bool, kernel: int = KERNEL):
        super().__init__()
        k = kernel // 2
        # vertical: rows r-k..r (padded on top), every column within reach; the first layer
        # drops row r so that position (r, .) only knows rows above it
        self.vertical = nn.Conv2d(channels, 2 * channels, (k + 1, kernel), padding=(k, k))
        # horizontal: columns c-k..c of row r; the first layer drops column c
        self.horizontal = nn.Conv2d(channels, 2 * channels, (1, k + 1), padding=(0, k))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.first = first
        v_mask = torch.ones_like(self.vertical.weight)
        h_mask = torch.ones_like(self.horizontal.weight)
        if first:
            v_mask[:, :, -1] = 0
            h_mask[:, :, :, -1] = 0
        self.register_buffer("v_mask", v_mask, persistent=False)
        self.register_buffer("h_mask", h_mask, persistent=False)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows, cols = v.shape[-2:]
        v_pre = F.conv2d(v, self.vertical.weight * self.v_mask, self.vertical.bias,
                         padding=self.vertical.padding)[:, :, :rows]
        h_pre = F.conv2d(h, self.horizontal.weight * self.h_mask, self.horizontal.bias,
                         padding=self.horizontal.padding)[:, :, :, :cols]
        out = self.h_out(_gate(h_pre + self.v_to_h(v_pre)))
        return _gate(v_pre), out if self.first else out + h


class GatedPixelCNN(nn.Module):
    """Categorical distribution over index grids (B, rows, cols) with ``classes`` values."""

    def __init__(self, classes: int, channels: int = CHANNELS, layers: int = LAYERS):
        super().__init__()
        self.classes = classes
        self.embed = nn.Embedding(classes, channels)
        self.layers = nn.ModuleList(GatedLayer(channels, first=i == 0) for i in range(layers))
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                 nn.Conv2d(channels, classes, 1))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Indices (B, rows, cols) -> logits (B, classes, rows, cols) of each position given the
        positions before it."""
        x = self.embed(idx).permute(0, 3, 1, 2)
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.out(h)

    def log_prob(self, idx: torch.Tensor) -> torch.Tensor:
        """log p(idx) per grid, (B,), in nats."""
        nll = F.cross_entropy(self.forward(idx).float(), idx, reduction="none")
        return -nll.flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, grid: tuple[int, int], generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """n index grids (n, rows, cols), one position at a time in raster order."""
        device = self.embed.weight.device
        idx = torch.zeros((n, *grid), dtype=torch.long, device=device)
        for r in range(grid[0]):
            for c in range(grid[1]):
                logits = self.forward(idx)[:, :, r, c].float() / temperature
                probs = torch.softmax(logits, 1)
                drawn = torch.multinomial(probs.cpu() if generator is None or generator.device.type == "cpu"
                                          else probs, 1, generator=generator)
                idx[:, r, c] = drawn[:, 0].to(device)
        return idx
