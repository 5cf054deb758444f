"""Feature-map sizes of the convolutional backbones: what every conv-grid backbone (conv, resnet)
and the VQ-VAE's code grid compute from the image shape. Plain arithmetic, so any backbone can
use it without importing another."""

from __future__ import annotations


def down_stride(size: tuple[int, int]) -> tuple[int, int]:
    """The stride of a 3x3, padding-1 convolution that halves a (h, w) map: 2, but 1 along a side
    already 1 long. Both give the same output there (only the centre tap sees the input), and
    torch 2.13's bfloat16 weight gradient of a stride-2 convolution over a side of length 1 is
    uninitialised memory (NaN or 1e37 on Intel Xeon with AMX): a conv run on MNIST at
    --image-size 4 or 8, whose last levels are 1x1, diverged in its first step."""
    return (1 if size[0] == 1 else 2, 1 if size[1] == 1 else 2)


def conv_sizes(height: int, width: int, n: int) -> list[tuple[int, int]]:
    """Spatial sizes after each of ``n`` stride-2 3x3 convolutions with padding 1."""
    sizes = [(height, width)]
    for _ in range(n):
        h, w = sizes[-1]
        sizes.append(((h - 1) // 2 + 1, (w - 1) // 2 + 1))
    return sizes


def conv_grid(config) -> tuple[int, int]:
    """The (h, w) feature map a conv-grid encoder of ``config`` ends on: one halving per --channels
    entry."""
    return conv_sizes(*config.image_shape[1:], len(config.channels))[-1]
