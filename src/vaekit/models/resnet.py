"""The ResNet backbone: the shape of today's image VAEs (the autoencoders of latent diffusion and
the like), at any image size and channel count.

Encoder: a 3x3 conv in, then per entry of --channels a residual block and a stride-2 conv down;
optionally self-attention at the lowest resolution; GroupNorm-SiLU; flatten. Decoder: the mirror,
a linear map to the lowest feature map, nearest-upsample + residual block per level (each to the
exact size the encoder saw, so odd sizes come back exactly), GroupNorm-SiLU-conv to logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.models.shapes import conv_sizes, down_stride
from vaekit.settings import owns, setting

# Unlike the conv backbone this one stays in the default NCHW layout: CPU GroupNorm and SiLU are
# slow in channels_last (measured, MNIST at 32,64 channels, batch 256, one training step:
# bfloat16 1.49 s channels_last against 0.46 s NCHW; float32 0.78 against 0.83).


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups that divide ``channels`` (so any width works)."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


class ResBlock(nn.Module):
    """(GroupNorm - SiLU - conv3x3) twice, plus the input (through a 1x1 conv when widths differ)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
                                  norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class SelfAttention(nn.Module):
    """Single-head self-attention over the positions of a feature map (B, C, h, w), residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (B, hw, C) each
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, c, h, w)
        return x + self.out(y)


class ResNetEncoder(nn.Module):
    """(B, C, H, W) -> (B, channels[-1] * h * w), one stride-2 level per entry of ``channels``."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], attention: bool = False):
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = [nn.Conv2d(c, channels[0], 3, padding=1)]
        c_in = channels[0]
        sizes = conv_sizes(h, w, len(channels))
        for c_out, size in zip(channels, sizes, strict=False):
            layers += [ResBlock(c_in, c_out), nn.Conv2d(c_out, c_out, 3, stride=down_stride(size), padding=1)]
            c_in = c_out
        if attention:
            layers += [SelfAttention(c_in), ResBlock(c_in, c_in)]
        layers += [norm(c_in), nn.SiLU(), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        fh, fw = sizes[-1]
        self.feature_shape = (c_in, fh, fw)  # before flattening: where a VQ grid sits
        self.out_features = c_in * fh * fw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResNetDecoder(nn.Module):
    """(B, D) -> (B, C, H, W) logits, mirroring ``ResNetEncoder``."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], latent_dim: int,
                 attention: bool = False):
        super().__init__()
        c, h, w = image_shape
        sizes = conv_sizes(h, w, len(channels))
        self.start = (channels[-1], *sizes[-1])
        self.project = nn.Linear(latent_dim, math.prod(self.start))
        layers: list[nn.Module] = [ResBlock(channels[-1], channels[-1])]
        if attention:
            layers.append(SelfAttention(channels[-1]))
        widths = list(reversed(channels))
        for i, size in enumerate(reversed(sizes[:-1])):
            c_next = widths[min(i + 1, len(widths) - 1)]
            layers += [nn.Upsample(size=size, mode="nearest"), ResBlock(widths[i], c_next)]
        layers += [norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], c, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, *self.start))


@dataclass
class ResNetSettings:
    attention: bool = setting(False, "Self-attention at the lowest resolution.",
                              check=lambda v: isinstance(v, bool), expected="true or false")


@owns(ResNetSettings)
def resnet(cfg) -> tuple[nn.Module, nn.Module]:
    """Residual blocks with GroupNorm and SiLU, stride-2 down / nearest-upsample up, per --channels
    entry; --attention adds self-attention at the lowest resolution."""
    code = cfg.latent_dim + cfg.num_classes
    return (ResNetEncoder(cfg.image_shape, cfg.channels, cfg.attention),
            ResNetDecoder(cfg.image_shape, cfg.channels, code, cfg.attention))
