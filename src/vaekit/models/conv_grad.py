"""The weight gradient of a convolution on small feature maps, as one matrix product on CPUs with AMX.

On an Intel Xeon with AMX, oneDNN 3.12's bfloat16 weight-gradient kernel (``brgconv_bwd_w``) takes
about the same time whatever the size of the feature map: for the dlib backbone's layers at batch
64 (2 cores, family 6 model 207, alternating) 1.8 ms for a 64 -> 64 channel convolution from 8x8
to 4x4 and 1.6 ms for 32 -> 64 from 16x16 to 8x8, where the 32 -> 32 one from 32x32, four times
the work, takes 1.3-1.8 ms. For a small output map the same gradient is cheap as a matrix product:
the input's patches, (B H' W', kh kw C_in), a copy of a few MB, multiplied by the output gradient,
(B H' W', C_out): 0.65 and 1.15 ms for those two layers (0.25 against 1.07 ms for a 64-channel one
from 4x4 to 2x2).
On larger maps the patches cost more than oneDNN's kernel (3.3 against 1.8 ms from 32x32), in
float32 the two are even, and on CPUs without AMX oneDNN's kernels were not measured slower, so
this route is taken only for bfloat16 on a CPU with AMX, for output maps of at most 64 pixels.
The numbers are the same sums in another order (``tests/test_conv_grad.py``).

3x3 kernels gain more: oneDNN took 34 ms for a 256 -> 512 channel convolution from 8x8 to 4x4 at
batch 64, the patches 5.4 ms (55 against 9.9 ms for 512 -> 512 at 4x4). Whole training steps in
bf16, alternating in one process: the dlib backbone 8% faster, the conv backbone on MNIST (28x28,
32-64-64-64) 6%, a wider conv backbone (64x64 RGB, 64-128-256-512) 16%, the face VAE (128x128, one
layer of which qualifies) unchanged within the noise.

Measured and left out: the one-channel layers (the dlib encoder's first convolution, the
decoder's last layer's backward) as matrix products of patches built from one strided slice per
tap (0.75 ms for the 64x64 input at batch 64, against 2 ms for one gather). Alone, the forward took
1.4 against 1.95 ms and the weight gradient 1.0 against 3.0; inside a step the products slowed
(1.7-2.1 ms each) and the bias needed its own sum, so the layer's forward and backward took 4.3-5.2
against oneDNN's 3.4-3.7 ms and the dlib step 44.0 against 41.8 ms (Xeon, 30 alternations).

``Conv2d`` is an ``nn.Conv2d`` (same parameters, same state_dict) whose backward takes that route
where it applies, and is torch's everywhere else: the conv backbone's blocks and the dlib encoder
use it. ``TransposedConv2d`` (``deconv.py``) calls ``weight_grad`` for its own weight gradient, the
convolution's with input and output swapped.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional as F

_aten = torch.ops.aten
PATCH_PIXELS = 64  # the largest output map (H' x W') whose weight gradient goes by patches


@functools.cache  # asked once per process
def _has_amx() -> bool:
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(check()) if check is not None else False


def by_patches(device: torch.device, dtype: torch.dtype, out_pixels: int) -> bool:
    """Whether the weight gradient of a convolution computing in ``dtype`` on ``device`` and
    writing ``out_pixels`` per channel and image goes by patches (bfloat16 on a CPU with AMX, a
    small output map)."""
    return device.type == "cpu" and dtype == torch.bfloat16 and out_pixels <= PATCH_PIXELS and _has_amx()


def weight_grad(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor, stride, padding) -> torch.Tensor:
    """dL/dW of y = conv2d(x, W, stride=stride, padding=padding) (dilation 1, one group) given
    grad = dL/dy, by patches where ``by_patches`` says so, else by oneDNN. x: (B, C_in, H, W);
    grad: (B, C_out, H', W'); weight: (C_out, C_in, kh, kw), for its shape -> (C_out, C_in, kh, kw)."""
    if by_patches(x.device, x.dtype, grad.shape[2] * grad.shape[3]):
        return patch_weight_grad(x, grad, weight.shape[2:], stride, padding)
    return _aten.convolution_backward(grad, x, weight, None, list(stride), list(padding), [1, 1], False,
                                      [0, 0], 1, [False, True, False])[1]


def patch_weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel, stride, padding) -> torch.Tensor:
    """The weight gradient as one matrix product: the output gradient (B H' W', C_out) transposed
    times the input's patches (B H' W', kh kw C_in). x: (B, C_in, H, W); grad: (B, C_out, H', W')
    -> (C_out, C_in, kh, kw), channels_last (free views for NHWC inputs, copies otherwise)."""
    b, c_in = x.shape[:2]
    c_out, h_out, w_out = grad.shape[1:]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    # (B, H + 2p, W + 2p, C_in), a view of an NHWC input; its patches as a strided view, copied once
    xp = F.pad(x, (pw, pw, ph, ph)).permute(0, 2, 3, 1)
    s_b, s_h, s_w, s_c = xp.stride()
    patches = xp.as_strided((b, h_out, w_out, kh, kw, c_in),
                            (s_b, sh * s_h, sw * s_w, s_h, s_w, s_c)).reshape(-1, kh * kw * c_in)
    g = grad.permute(0, 2, 3, 1).reshape(-1, c_out)  # (B H' W', C_out)
    return (g.t() @ patches).view(c_out, kh, kw, c_in).permute(0, 3, 1, 2)


class _Conv(torch.autograd.Function):
    """y = conv2d(x, weight, bias) with the weight gradient by patches (see the module)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding)
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.conv
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _aten.convolution_backward(grad, x, weight, None, list(stride), list(padding), [1, 1],
                                                False, [0, 0], 1, [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_w = weight_grad(x, grad, weight, stride, padding)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (B, C_in, H, W) -> (B, C_out, H', W') whose weight gradient goes by patches
    where that is faster (module docstring); torch's own convolution everywhere else."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not torch.is_grad_enabled() or self.padding_mode != "zeros" or isinstance(self.padding, str)
                or self.dilation != (1, 1) or self.groups != 1 or not self.weight.requires_grad):
            return super().forward(x)
        h, w = ((s + 2 * p - k) // st + 1 for s, p, k, st in
                zip(x.shape[2:], self.padding, self.kernel_size, self.stride, strict=True))
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        if not by_patches(x.device, dtype, h * w):
            return super().forward(x)
        return _Conv.apply(*autocast_inputs(x, self.weight, self.bias), self.stride, self.padding)


def autocast_inputs(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> tuple:
    """A custom Function's (x, weight, bias), cast to the CPU autocast dtype where autocast is on.
    Autocast would cast inside the Function, out of autograd's sight: cast before it, where the
    casts' own backward brings the gradients back to the parameters' dtype."""
    if not torch.is_autocast_enabled("cpu"):
        return x, weight, bias
    dtype = torch.get_autocast_dtype("cpu")
    return x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)
