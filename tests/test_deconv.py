"""The transposed convolution whose CPU backward runs as ordinary convolutions: torch's
``nn.ConvTranspose2d`` in everything but the kernels its backward calls."""

import pytest
import torch
from conftest import layer_pass
from torch import nn

from vaekit.models.deconv import TransposedConv2d, _one_channel

# (in, out, side, output_padding): the dlib decoder's levels, a one-channel image, odd sizes
CASES = [(64, 32, 8, 0), (32, 1, 32, 0), (8, 3, 3, 1), (8, 4, 7, (0, 1)), (8, 1, 5, (1, 0))]


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("c_in,c_out,side,output_padding", CASES)
def test_gradients_are_torchs(c_in, c_out, side, output_padding, channels_last, bf16):
    torch.manual_seed(0)
    ref = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding=output_padding)
    ours = TransposedConv2d(c_in, c_out, 4, 2, 1, output_padding=output_padding)
    ours.load_state_dict(ref.state_dict())  # the same parameters under the same names
    x = torch.randn(5, c_in, side, side)
    if channels_last:
        x, ref, ours = (t.to(memory_format=torch.channels_last) for t in (x, ref, ours))
    expected, got = layer_pass(ref, x, bf16), layer_pass(ours, x, bf16)
    # the output is torch's own forward, but for a one-channel output (a matrix product and four
    # sums, within one bf16 step); the gradients agree up to the order of a sum (in bf16, rounded
    # once where torch's kernel rounds once)
    if c_out == 1:
        assert got[0].dtype == expected[0].dtype and got[0].shape == expected[0].shape
        assert (got[0] - expected[0]).abs().max() <= (2 ** -7 if bf16 else 1e-6) * expected[0].abs().max()
    else:
        assert torch.equal(got[0], expected[0])
    for name, a, b in zip(("input", "weight", "bias"), got[1:], expected[1:], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        scale = b.abs().max()
        assert (a - b).abs().max() <= (2e-3 if bf16 else 1e-5) * scale, name


def test_without_gradients_it_is_torchs_forward():
    torch.manual_seed(0)
    ours = TransposedConv2d(4, 2, 4, 2, 1)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        y = ours(x)
    assert y.grad_fn is None and torch.equal(y, nn.ConvTranspose2d.forward(ours, x))
    # with gradients the custom backward is on the graph
    y = ours(x)
    assert type(y).__name__ == "Tensor" and "Deconv" in type(y.grad_fn).__name__


def test_one_channel_evaluation_takes_the_matrix_product_and_an_export_torchs_op(tmp_path):
    import onnx

    torch.manual_seed(0)
    ours = TransposedConv2d(6, 1, 4, 2, 1).to(memory_format=torch.channels_last)
    x = torch.randn(2, 6, 5, 5).to(memory_format=torch.channels_last)
    with torch.no_grad():
        y = ours(x)
        expected = nn.ConvTranspose2d.forward(ours, x)
        assert torch.equal(y, _one_channel(x, ours.weight, ours.bias, (0, 0)))
        assert (y - expected).abs().max() <= 1e-6 * expected.abs().max()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert ours(x).dtype == torch.bfloat16
        # an ONNX export (vaekit's, by tracing) records torch's own transposed convolution
        torch.onnx.export(ours, (x,), str(tmp_path / "layer.onnx"), dynamo=False)
    ops = {node.op_type for node in onnx.load(str(tmp_path / "layer.onnx")).graph.node}
    assert ops == {"ConvTranspose"}


@pytest.mark.parametrize("side,output_padding", [(6, (0, 0)), (5, (1, 0)), (1, (1, 1)), (3, (0, 1))])
def test_one_channel_forward_is_the_transposed_convolution(side, output_padding):
    """The one-channel route in float64: torch's transposed convolution to rounding, bias included,
    for any side and output padding, from either memory layout."""
    g = torch.Generator().manual_seed(side)
    x = torch.randn(3, 7, side, side + 2, generator=g, dtype=torch.float64)
    weight = torch.randn(7, 1, 4, 4, generator=g, dtype=torch.float64)
    bias = torch.randn(1, generator=g, dtype=torch.float64)
    expected = torch.nn.functional.conv_transpose2d(x, weight, bias, 2, 1, output_padding)
    for layout in (torch.contiguous_format, torch.channels_last):
        got = _one_channel(x.contiguous(memory_format=layout), weight, bias, output_padding)
        assert got.dtype == torch.float64 and got.shape == expected.shape
        assert torch.allclose(got, expected, rtol=0, atol=1e-12)
    no_bias = torch.nn.functional.conv_transpose2d(x, weight, None, 2, 1, output_padding)
    assert torch.allclose(_one_channel(x, weight, None, output_padding), no_bias, rtol=0, atol=1e-12)
