"""The .vkz compressor: quantizer, bit packing, file round trip, clear errors, and the CLI."""

from __future__ import annotations

import struct

import pytest
import torch
from conftest import make_image_folder, run_here

from vaekit.errors import VaekitError
from vaekit.models import build_model
from vaekit.tasks.compress import (
    compress,
    decompress,
    dequantize,
    pack_bits,
    quantize,
    read_vkz,
    unpack_bits,
)


@pytest.mark.parametrize("bits", [1, 3, 8, 11, 16])
def test_bit_packing_round_trips(bits):
    q = torch.randint(0, 2**bits, (7, 5), generator=torch.Generator().manual_seed(bits))
    blob = pack_bits(q, bits)
    assert len(blob) == -(-35 * bits // 8)
    assert torch.equal(unpack_bits(blob, 35, bits).view(7, 5), q)


def test_quantizer_bins_are_equally_likely_and_error_shrinks_with_bits():
    z = torch.randn(20000, 3, generator=torch.Generator().manual_seed(0))
    centre, scale = torch.zeros(3), torch.ones(3)
    counts = torch.bincount(quantize(z, centre, scale, 2).flatten(), minlength=4).double() / z.numel()
    assert torch.allclose(counts, torch.full((4,), 0.25, dtype=torch.float64), atol=0.01)
    errors = [float((dequantize(quantize(z, centre, scale, b), centre, scale, b) - z).pow(2).mean())
              for b in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-3


def test_file_round_trip_and_header(tmp_path):
    model = build_model(model="vae", image_shape=(1, 8, 8), latent_dim=6, hidden=[16]).eval()
    x = torch.rand(9, 1, 8, 8)
    blob = compress(model, x, bits=5, names=[f"im{i}.png" for i in range(9)])
    path = tmp_path / "a.vkz"
    path.write_bytes(blob)
    header, codes = read_vkz(path)
    assert header["count"] == 9 and header["bits"] == 5 and codes.shape == (9, 6)
    (hlen,) = struct.unpack("<I", blob[4:8])
    assert blob[:4] == b"VKZ1" and len(blob) - 8 - hlen == -(-9 * 6 * 5 // 8)  # payload: 34 bytes
    with torch.no_grad():
        means = model.encode(x).mode()
    assert float((codes - means).abs().max()) < 0.5 * float(means.std())  # 5 bits: coarse but close
    _, images = decompress(path, model)
    assert images.shape == x.shape


def test_truncated_foreign_and_mismatched_files_are_refused(tmp_path):
    model = build_model(model="ae", image_shape=(1, 8, 8), latent_dim=4, hidden=[16]).eval()
    blob = compress(model, torch.rand(5, 1, 8, 8), bits=8)
    (tmp_path / "cut.vkz").write_bytes(blob[:-3])
    with pytest.raises(VaekitError, match="cut.vkz: truncated or damaged"):
        read_vkz(tmp_path / "cut.vkz")
    (tmp_path / "head.vkz").write_bytes(blob[:20])
    with pytest.raises(VaekitError, match="head.vkz: truncated or damaged"):
        read_vkz(tmp_path / "head.vkz")
    (tmp_path / "photo.vkz").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(VaekitError, match="photo.vkz: not a vaekit compressed file"):
        read_vkz(tmp_path / "photo.vkz")
    other = build_model(model="ae", image_shape=(1, 8, 8), latent_dim=3, hidden=[16])
    (tmp_path / "ok.vkz").write_bytes(blob)
    with pytest.raises(VaekitError, match="3"):
        decompress(tmp_path / "ok.vkz", other)
    with pytest.raises(VaekitError, match="^bits: expected 1 to 16"):
        compress(model, torch.rand(2, 1, 8, 8), bits=20)


def test_cli_compress_decompress_and_evaluate(tmp_path, data_home):
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=8, size=(16, 16), mode="L")
    run = tmp_path / "run"
    run_here("train", "--data", str(folder), "--image-size", "16", "--model", "ae", "--latent-dim", "8",
            "--epochs", "2", "--out", str(run), "--no-progress")
    out = run_here("compress", str(run), str(folder), "-o", str(tmp_path / "all.vkz"), "--bits", "4").stdout
    assert "16 images" in out and "4 bytes each" in out
    run_here("decompress", str(tmp_path / "all.vkz"), "-o", str(tmp_path / "back"), "--run", str(run))
    assert len(list((tmp_path / "back").rglob("*.png"))) == 16
    other = tmp_path / "other"
    run_here("train", "--data", str(folder), "--image-size", "16", "--model", "ae", "--latent-dim", "8",
            "--epochs", "1", "--seed", "1", "--out", str(other), "--no-progress")
    bad = run_here("decompress", str(tmp_path / "all.vkz"), "-o", str(tmp_path / "x"), "--run", str(other),
                  check=False)
    assert bad.returncode == 2 and "written by another model" in bad.stderr
    proc = run_here("evaluate", str(run), "--compress", "8")
    assert "file_bytes_per_image" in proc.stdout
