"""The weight gradient by patches (``vaekit.models.conv_grad``): the convolution's own gradient in
another order of summation, on every CPU (the route AMX machines take is forced here where a CPU
has no AMX)."""

import pytest
import torch
from conftest import layer_pass
from torch import nn

import vaekit.models.conv_grad as conv_grad
from vaekit.models.conv_grad import Conv2d, patch_weight_grad
from vaekit.models.deconv import TransposedConv2d


@pytest.fixture
def amx(monkeypatch):
    """As on a CPU with AMX: small bf16 maps take the patch route."""
    monkeypatch.setattr(conv_grad, "_has_amx", lambda: True)


# (in, out, side, kernel, stride, padding): the dlib encoder's small levels, odd sizes, other shapes
SHAPES = [(64, 64, 8, 4, 2, 1), (32, 64, 16, 4, 2, 1), (3, 5, 9, 4, 2, 1), (4, 6, 7, 3, 1, 1), (2, 3, 6, 5, 3, 2),
          (1, 8, 10, 4, 2, 1)]


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("c_in,c_out,side,k,s,p", SHAPES)
def test_patches_give_the_convolutions_weight_gradient(c_in, c_out, side, k, s, p, channels_last):
    torch.manual_seed(0)
    x = torch.randn(3, c_in, side, side + 1, dtype=torch.float64)
    w = torch.randn(c_out, c_in, k, k, dtype=torch.float64)
    y = nn.functional.conv2d(x, w, None, s, p)
    grad = torch.randn_like(y)
    if channels_last:
        x, grad = x.to(memory_format=torch.channels_last), grad.to(memory_format=torch.channels_last)
    expected = torch.nn.grad.conv2d_weight(x, w.shape, grad, s, p)
    got = patch_weight_grad(x, grad, (k, k), (s, s), (p, p))
    assert got.shape == w.shape and got.dtype == torch.float64
    assert torch.allclose(got, expected, rtol=0, atol=1e-12 * expected.abs().max())


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16"])
@pytest.mark.parametrize("c_in,c_out,side,k,s,bias", [(64, 64, 8, 4, 2, True), (32, 64, 16, 4, 2, True),
                                                      (3, 4, 7, 4, 2, True), (32, 32, 32, 4, 2, True),
                                                      (16, 8, 7, 3, 1, False), (8, 16, 9, 3, 2, False)])
def test_conv2d_gives_torchs_output_and_gradients(amx, c_in, c_out, side, k, s, bias, bf16):
    # the dlib encoder's 4x4 stride-2 levels and the conv backbone's bias-free 3x3 blocks
    torch.manual_seed(0)
    ref = nn.Conv2d(c_in, c_out, k, s, 1, bias=bias).to(memory_format=torch.channels_last)
    ours = Conv2d(c_in, c_out, k, s, 1, bias=bias).to(memory_format=torch.channels_last)
    ours.load_state_dict(ref.state_dict())  # the same parameters under the same names
    x = torch.randn(5, c_in, side, side).to(memory_format=torch.channels_last)
    out_side = (side + 2 - k) // s + 1
    patches = bf16 and out_side ** 2 <= conv_grad.PATCH_PIXELS
    if patches:  # the custom backward is on the graph exactly where the route applies
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert type(ours(x.clone().requires_grad_()).grad_fn).__name__ == "_ConvBackward"
    expected, got = layer_pass(ref, x, bf16), layer_pass(ours, x, bf16)
    assert torch.equal(got[0], expected[0])  # the forward is torch's
    for name, a, b in zip(("input", "weight", "bias"), got[1:], expected[1:], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert (a - b).abs().max() <= (2e-3 if bf16 else 1e-5) * b.abs().max(), name


@pytest.mark.parametrize("c_in,c_out,side", [(64, 64, 4), (64, 32, 8), (8, 3, 3)])
def test_transposed_convolution_weight_gradient_by_patches(amx, c_in, c_out, side):
    # the deconvolution's weight gradient is the convolution "output -> input"'s: a small input
    # map is that convolution's small output map
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1).to(memory_format=torch.channels_last)
    ours = TransposedConv2d(c_in, c_out, 4, 2, 1).to(memory_format=torch.channels_last)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, c_in, side, side).to(memory_format=torch.channels_last)
    expected, got = layer_pass(ref, x, True), layer_pass(ours, x, True)
    scale = expected[2].abs().max()
    assert got[2].dtype == expected[2].dtype and (got[2] - expected[2]).abs().max() <= 2e-3 * scale


def test_the_route_is_taken_only_for_bf16_small_maps_with_amx(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(conv_grad, "_has_amx", lambda: True)
    assert conv_grad.by_patches(cpu, torch.bfloat16, 64)
    assert not conv_grad.by_patches(cpu, torch.bfloat16, 65)
    assert not conv_grad.by_patches(cpu, torch.float32, 16)
    monkeypatch.setattr(conv_grad, "_has_amx", lambda: False)
    assert not conv_grad.by_patches(cpu, torch.bfloat16, 16)
    # without gradients, Conv2d is nn.Conv2d
    ours = Conv2d(4, 2, 4, 2, 1)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(ours(x), nn.Conv2d.forward(ours, x))
