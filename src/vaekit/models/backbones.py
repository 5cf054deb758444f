"""Encoder and decoder networks. Each maps images <-> a flat feature vector; sizes are derived
from the image shape, never hard-coded, so any resolution and channel count works.

An encoder maps (B, C, H, W) -> (B, F); a decoder maps (B, D) -> (B, C, H, W) logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.models.conv_grad import Conv2d
from vaekit.models.dlib import dlib
from vaekit.models.resnet import resnet
from vaekit.models.shapes import conv_grid, conv_sizes, down_stride
from vaekit.registry import ACTIVATIONS, BACKBONES

ACTIVATIONS.update({"relu": nn.ReLU, "tanh": nn.Tanh})


class MLPEncoder(nn.Module):
    """Flatten, then Linear-activation layers: (B, C, H, W) -> (B, hidden[-1]).

    activation: "relu" (the tutorials' MLP) or "tanh" (the IWAE paper's).
    """

    def __init__(self, image_shape: tuple[int, int, int], hidden: list[int], activation: str = "relu"):
        super().__init__()
        layers, width = [nn.Flatten()], math.prod(image_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    """Linear-activation layers mirroring the encoder, then a Linear to every pixel: (B, D) -> logits."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: list[int], latent_dim: int,
                 activation: str = "relu"):
        super().__init__()
        layers, width = [], latent_dim
        for h in reversed(hidden):
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers += [nn.Linear(width, math.prod(image_shape)), nn.Unflatten(1, image_shape)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def conv_block(c_in: int, c_out: int, stride: int | tuple[int, int]) -> nn.Sequential:
    """Conv(3x3) - BatchNorm - LeakyReLU, the face VAE's building block."""
    return nn.Sequential(Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


# The conv path works in channels_last (NHWC) memory: oneDNN's convolutions, BatchNorm and nearest
# upsampling run natively in it, while in the default NCHW layout every convolution converts its
# input and output (measured on the 3x128x128 face VAE: a training step 1.9x faster in float32,
# 1.8x in bfloat16; upsampling a 64-channel 32x32 map ~9x faster). The layout changes where
# values sit in memory, not their meaning: shapes, indexing and saved weights are unchanged.
CHANNELS_LAST = torch.channels_last


class ConvEncoder(nn.Module):
    """Stride-2 Conv-BN-LeakyReLU blocks, then flatten: (B, C, H, W) -> (B, c[-1] * h * w)."""

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int]):
        super().__init__()
        c, h, w = image_shape
        sizes = conv_sizes(h, w, len(channels))
        blocks, c_in = [], c
        for c_out, size in zip(channels, sizes, strict=False):
            blocks.append(conv_block(c_in, c_out, stride=down_stride(size)))
            c_in = c_out
        self.net = nn.Sequential(*blocks, nn.Flatten())
        fh, fw = sizes[-1]
        self.feature_shape = (channels[-1], fh, fw)  # before flattening: where a VQ grid sits
        self.out_features = channels[-1] * fh * fw
        self.to(memory_format=CHANNELS_LAST)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=CHANNELS_LAST))


class ConvDecoder(nn.Module):
    """Linear to the encoder's last feature map, then nearest-upsample + Conv-BN-LeakyReLU blocks.

    Each upsample goes to the exact size the encoder saw at that level, so odd sizes (28, 25,
    112x92) come back exactly; the last block is a plain conv to C channels giving logits.
    """

    def __init__(self, image_shape: tuple[int, int, int], channels: list[int], latent_dim: int):
        super().__init__()
        c, h, w = image_shape
        sizes = conv_sizes(h, w, len(channels))  # [(H, W), ..., (h_n, w_n)]
        self.start = (channels[-1], *sizes[-1])
        self.project = nn.Linear(latent_dim, math.prod(self.start))
        blocks = []
        widths = list(reversed(channels))  # e.g. [64, 64, 64, 32]
        for i, size in enumerate(reversed(sizes[:-1])):
            c_in = widths[i]
            up = nn.Upsample(size=size, mode="nearest")
            if i == len(widths) - 1:
                blocks.append(nn.Sequential(up, nn.Conv2d(c_in, c, 3, padding=1)))
            else:
                blocks.append(nn.Sequential(up, conv_block(c_in, widths[i + 1], stride=1)))
        self.net = nn.Sequential(*blocks)
        self.to(memory_format=CHANNELS_LAST)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = nn.functional.leaky_relu(self.project(z), 0.2).view(-1, *self.start)
        # (B, c_n, h_n, w_n) -> (B, C, H, W), channels_last throughout
        return self.net(x.contiguous(memory_format=CHANNELS_LAST))


# A backbone is one function: model config -> (encoder, decoder). The encoder maps (B, C, H, W) to
# (B, F) and says F in ``out_features``; the decoder maps (B, latent_dim + num_classes) -- a
# conditional model appends the one-hot label to the code -- to (B, C, H, W) logits. Two optional
# attributes of the function: ``grid(config) -> (h, w)``, the feature map an encoder ending on one
# flattens (a VQ-VAE puts its code vectors there), and ``problem(config) -> str | None``, why an
# image shape does not fit (checked when the model config is made).


def mlp(cfg) -> tuple[nn.Module, nn.Module]:
    """The tutorials' MLP: Linear-activation layers of --hidden widths, mirrored in the decoder."""
    code = cfg.latent_dim + cfg.num_classes
    return (MLPEncoder(cfg.image_shape, cfg.hidden, cfg.activation),
            MLPDecoder(cfg.image_shape, cfg.hidden, code, cfg.activation))


def conv(cfg) -> tuple[nn.Module, nn.Module]:
    """The face VAE: stride-2 Conv-BN-LeakyReLU blocks of --channels widths, upsampling decoder."""
    code = cfg.latent_dim + cfg.num_classes
    return ConvEncoder(cfg.image_shape, cfg.channels), ConvDecoder(cfg.image_shape, cfg.channels, code)


conv.grid = resnet.grid = conv_grid
BACKBONES.update({"mlp": mlp, "conv": conv, "resnet": resnet, "dlib": dlib})
