"""The convolutional VAE of the disentanglement literature (Higgins et al. 2017, Burgess et al.
2018, and disentanglement_lib's study, Locatello et al. 2019): the network behind every
published dSprites score, so that vaekit's scores stand beside them on the same architecture.

Encoder: per entry of --channels (the study's 32,32,64,64) a 4x4 stride-2 convolution with
padding 1 and ReLU, flatten, a --dense-width (256) ReLU layer. Decoder: the mirror, a ReLU
layer of --dense-width, a ReLU layer to the last feature map, then per level a 4x4 stride-2
transposed convolution with ReLU, the last one to the image's channels (logits). No
normalisation layers, as in the study.

Each level halves a side, rounding down (64 -> 32 -> 16 -> 8 -> 4; 28 -> 14 -> 7 -> 3 -> 1);
the decoder's transposed convolutions add the pixel a halving dropped (output_padding), so odd
sizes come back exactly. A side must be at least 2 wherever a convolution reads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vaekit.models.conv_grad import Conv2d
from vaekit.models.deconv import TransposedConv2d
from vaekit.settings import MOST_WIDTH, int_in, owns, setting

# channels_last (NHWC), like the conv backbone: oneDNN's convolutions and transposed
# convolutions run natively in it (measured in benchmarks/speed_dlib.py)
CHANNELS_LAST = torch.channels_last


def halvings(height: int, width: int, n: int) -> list[tuple[int, int]]:
    """Spatial sizes after each of ``n`` 4x4 stride-2 convolutions with padding 1: each side
    halved, rounded down. [(H, W), ..., (h_n, w_n)]."""
    sizes = [(height, width)]
    for _ in range(n):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes


def size_problem(config) -> str | None:
    """Why an image shape does not fit ``len(config.channels)`` levels (None: it does): every
    convolution must read a side of at least 2, so the smallest side needs 2 ** levels."""
    levels = len(config.channels)
    sizes = halvings(*config.image_shape[1:], levels)
    if min(min(s) for s in sizes[:-1]) < 2:  # then every output side is at least 1
        need = 2 ** levels
        return (f"images of at least {need}x{need} for the dlib backbone's {levels} stride-2 levels "
                f"(one per --channels entry; fewer entries fit smaller images)")
    return None


class DlibEncoder(nn.Module):
    """(B, C, H, W) -> (B, dense_width): 4x4 stride-2 conv-ReLU per level, flatten, dense-ReLU."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], dense_width: int):
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = []
        c_in = c
        for c_out in channels:
            layers += [Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            c_in = c_out
        self.convs = nn.Sequential(*layers).to(memory_format=CHANNELS_LAST)
        fh, fw = halvings(h, w, len(channels))[-1]
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(c_in * fh * fw, dense_width),
                                   nn.ReLU(inplace=True))
        self.out_features = dense_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # flattening an NHWC map reads it in NCHW order: the dense layer's weights mean what a
        # plain NCHW network's would, and a saved model loads into either
        return self.dense(self.convs(x.contiguous(memory_format=CHANNELS_LAST)))


class DlibDecoder(nn.Module):
    """(B, D) -> (B, C, H, W) logits: dense-ReLU twice, then a 4x4 stride-2 transposed conv per level."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], latent_dim: int,
                 dense_width: int):
        super().__init__()
        c, h, w = image_shape
        sizes = halvings(h, w, len(channels))
        self.start = (channels[-1], *sizes[-1])
        self.dense = nn.Sequential(nn.Linear(latent_dim, dense_width), nn.ReLU(inplace=True),
                                   nn.Linear(dense_width, math.prod(self.start)), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        widths = [*reversed(channels), c]  # e.g. [64, 64, 32, 32, 1]
        for i, (th, tw) in enumerate(reversed(sizes[:-1])):
            # from (th // 2, tw // 2) to (th, tw): 2x, plus the pixel an odd side lost
            layers.append(TransposedConv2d(widths[i], widths[i + 1], 4, stride=2, padding=1,
                                           output_padding=(th % 2, tw % 2)))
            if i < len(channels) - 1:
                layers.append(nn.ReLU(inplace=True))
        self.deconvs = nn.Sequential(*layers).to(memory_format=CHANNELS_LAST)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(z).view(-1, *self.start)
        return self.deconvs(x.contiguous(memory_format=CHANNELS_LAST))


@dataclass
class DlibSettings:
    dense_width: int = setting(256, "Width of the dlib backbone's dense layer (encoder and decoder).",
                               check=int_in(1, MOST_WIDTH), expected=f"an integer from 1 to {MOST_WIDTH}")


@owns(DlibSettings)
def dlib(cfg) -> tuple[nn.Module, nn.Module]:
    """The disentanglement literature's VAE: 4x4 stride-2 conv-ReLU per --channels entry (the study
    uses 32,32,64,64), a --dense-width layer, transposed-conv decoder; no normalisation."""
    code = cfg.latent_dim + cfg.num_classes
    return (DlibEncoder(cfg.image_shape, cfg.channels, cfg.dense_width),
            DlibDecoder(cfg.image_shape, cfg.channels, code, cfg.dense_width))


dlib.problem = size_problem  # checked when a model config is made, before anything is written
