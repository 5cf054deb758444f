"""A transposed convolution whose backward pass runs as ordinary convolutions on the CPU.

A transposed convolution is the input-gradient of a convolution with the same weight, so its own
gradients are ordinary convolution passes: its input's gradient is the convolution of the output's
gradient (B, C_out, H', W') by the weight, and its weight's gradient is that convolution's
weight-gradient with the roles of input and output swapped (``conv_grad.weight_grad``: oneDNN's
kernel, or on a CPU with AMX a matrix product for small bf16 maps). The numbers are torch's up to the
order of a sum (the input and weight gradients mostly bit for bit, the bias's within float
rounding: ``tests/test_deconv.py``); the kernels differ. With oneDNN 3.12 (torch 2.13) the
transposed convolution's weight-gradient kernel on the CPU is 2-3x slower than the convolution's
on the same problem: for the dlib backbone's decoder in bf16 (batch 64, 64x64 images, 2 AMD EPYC
Zen 5 cores) the four layers' backward took 10.2 ms by torch's route and 5.1 ms by this one (6.6
and 5.1 ms in float32); on 2 Intel Xeon cores with AMX (family 6 model 207), timed with each
layer's own input, 22.1 against 15.8 ms in bf16 and 22.4 against 18.3 in float32.
``benchmarks/speed_dlib.py`` times the whole step.

The forward is torch's too, except for the layer that writes a one-channel image with the usual
4x4 stride-2 kernel (the last layer of a greyscale decoder): oneDNN runs it as a one-channel
deconvolution at a few percent of the machine's speed (3.7-5.0 ms for the dlib decoder's last
layer, batch 64, bf16, 2 AMD EPYC Zen 4 cores), where one matrix product of the input by the 16
taps and four shifted sums take 1.2-1.7 ms (float32: 7.5 against 1.6 ms). On the Xeon with AMX
oneDNN's bf16 kernel is nearly as fast (2.4 against 2.1 ms, alternating), its float32 one is not
(8.3 against 2.3 ms). Its sums run in float32,
so the output differs from oneDNN's by the rounding of the taps (within one bf16 step in bf16).

The module is an ``nn.ConvTranspose2d`` (same parameters, same state_dict) and takes this route
only where it applies: on the CPU, with gradients to compute, dilation 1 and one group. Without
gradients (evaluation, sampling) the one-channel layer still takes its matrix-product forward on
the CPU, since that is where float32 evaluation loses most (8.3 ms by oneDNN for a batch of 64);
anywhere else (ONNX export, tracing, compiling, a GPU) it is torch's own forward.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vaekit.models.conv_grad import autocast_inputs, weight_grad


class _Deconv(torch.autograd.Function):
    """y = conv_transpose2d(x, weight, bias) with the backward as convolutions (see the module)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, output_padding):
        ctx.save_for_backward(x, weight)
        ctx.conv = (stride, padding)
        if _writes_one_channel(weight, stride, padding):
            return _one_channel(x, weight, bias, output_padding)
        return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.conv
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            # a stride-s convolution of the (H', W') gradient ignores the output_padding rows
            grad_x = F.conv2d(grad, weight, None, stride, padding)
        if ctx.needs_input_grad[1]:
            # the convolution "grad -> x" by this weight: its weight-gradient is the deconvolution's
            grad_w = weight_grad(grad, x, weight, stride, padding)
        if ctx.needs_input_grad[2]:  # False where there is no bias
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


def _writes_one_channel(weight: torch.Tensor, stride, padding) -> bool:
    """Whether a transposed convolution is the one-channel 4x4 stride-2 padding-1 layer that
    ``_one_channel`` computes (a greyscale decoder's last)."""
    return weight.shape[1:] == (1, 4, 4) and tuple(stride) == (2, 2) and tuple(padding) == (1, 1)


def _one_channel(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 output_padding: tuple[int, int]) -> torch.Tensor:
    """conv_transpose2d with a (C_in, 1, 4, 4) weight, stride 2, padding 1: (B, C_in, H, W) ->
    (B, 1, 2H + op_h, 2W + op_w), as one matrix product and four shifted sums."""
    b, c_in, h, w = x.shape
    # each input pixel's contribution to each of the 16 output pixels its kernel covers:
    # (kh, kw) x (B, H, W); the (B, H, W) x C_in view is free for a channels_last input
    taps = weight.permute(2, 3, 1, 0).reshape(16, c_in) @ x.permute(0, 2, 3, 1).reshape(-1, c_in).t()
    taps = taps.view(2, 2, 2, 2, b, h, w)  # kh = 2u + r, kw = 2v + s
    # Output row 2m + r - 1 (m in 0..H) gathers tap row 2u + r of input row m - u, u in {0, 1}:
    # one sum per parity (r, s), over the input shifted by (u, v)
    acc = x.new_zeros((2, 2, b, h + 1, w + 1), dtype=torch.promote_types(x.dtype, torch.float32))
    for u in (0, 1):
        for v in (0, 1):
            acc[:, :, :, u:u + h, v:v + w] += taps[u, :, v]
    # interleave the parities: (r, s, B, m, n) -> (B, 2m + r, 2n + s), less the padding's row and column
    y = acc.permute(2, 3, 0, 4, 1).reshape(b, 1, 2 * h + 2, 2 * w + 2)
    y = y[:, :, 1:2 * h + 1 + output_padding[0], 1:2 * w + 1 + output_padding[1]]
    if bias is not None:
        y = y + bias
    return y.to(x.dtype).contiguous()


class TransposedConv2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (B, C_in, H, W) -> (B, C_out, H', W') whose CPU backward runs as
    ordinary convolutions: torch's numbers up to rounding, twice as fast in bf16 (module docstring)."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        # (a transposed convolution's padding is always zeros: torch refuses any other mode)
        if (output_size is not None or x.device.type != "cpu" or self.dilation != (1, 1) or self.groups != 1
                or torch.onnx.is_in_onnx_export() or torch.jit.is_tracing() or torch.compiler.is_compiling()):
            return super().forward(x, output_size)
        if not torch.is_grad_enabled():
            if _writes_one_channel(self.weight, self.stride, self.padding):
                return _one_channel(*autocast_inputs(x, self.weight, self.bias), self.output_padding)
            return super().forward(x, output_size)
        return _Deconv.apply(*autocast_inputs(x, self.weight, self.bias), self.stride, self.padding,
                             self.output_padding)
