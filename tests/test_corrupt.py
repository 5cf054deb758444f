"""Corruptions for denoising: each kind does what its spec says, on whole batches."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vaekit.datasets import check_batch
from vaekit.datasets.corrupt import parse_corruption
from vaekit.errors import VaekitError, flag


def _grey(n=64, c=1, h=28, w=28, value=0.5):
    return torch.full((n, c, h, w), value)


def test_gaussian_noise_has_the_requested_std_and_stays_in_range():
    x = _grey()
    y = parse_corruption("gaussian:0.1")(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert abs(float((y - x).std()) - 0.1) < 0.005  # mid-grey: clipping never bites at 5 sigma


def test_salt_and_pepper_sets_the_requested_share_of_pixels_to_0_or_1():
    y = parse_corruption("saltpepper:0.2")(_grey(), torch.Generator().manual_seed(0))
    black, white = float((y == 0).double().mean()), float((y == 1).double().mean())
    assert abs(black - 0.1) < 0.01 and abs(white - 0.1) < 0.01
    assert float(((y - 0.5).abs() < 1e-6).double().mean()) == pytest.approx(1 - black - white)


def test_erase_blanks_one_rectangle_per_image_within_the_area_limit():
    x = torch.ones(200, 1, 20, 30)
    y = parse_corruption("erase:0.25")(x, torch.Generator().manual_seed(0))
    zero = y[:, 0] == 0  # (N, H, W)
    share = zero.flatten(1).double().mean(1)
    assert float(share.min()) > 0 and float(share.max()) <= 0.25 + 2 / 20  # rounding to whole rows
    for img in zero[:20]:  # a filled rectangle: its bounding box is all erased
        rows, cols = img.any(1).nonzero().flatten(), img.any(0).nonzero().flatten()
        assert bool(img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all())
    assert len({tuple(z.nonzero()[0].tolist()) for z in zero[:50]}) > 10  # positions differ


def test_watermark_is_a_partly_transparent_white_mark_placed_per_image():
    x = torch.zeros(100, 3, 32, 32)
    y = parse_corruption("watermark:ABC")(x, torch.Generator().manual_seed(0))
    changed = (y > 0).any(1)  # (N, H, W)
    assert bool(changed.flatten(1).any(1).all())  # every image carries the mark
    assert float(y.max()) <= 0.9 + 1e-6  # opacity at most 0.9 of white
    assert torch.allclose(y[:, 0], y[:, 1]) and torch.allclose(y[:, 1], y[:, 2])  # white, not tinted
    tops = {int(c.any(1).nonzero()[0]) for c in changed}
    assert len(tops) > 3  # random positions


def test_logo_overlay_uses_the_logo_colours_and_alpha(tmp_path):
    logo = Image.new("RGBA", (20, 10), (255, 0, 0, 255))
    logo.save(tmp_path / "logo.png")
    y = parse_corruption(f"logo:{tmp_path / 'logo.png'}")(torch.zeros(10, 3, 40, 40),
                                                          torch.Generator().manual_seed(0))
    marked = y[:, 0] > 0
    assert bool(marked.flatten(1).any(1).all())
    assert float(y[:, 1].max()) == 0 and float(y[:, 2].max()) == 0  # pure red mark
    assert 0.4 - 1e-6 <= float(y[:, 0][marked].max()) <= 0.9 + 1e-6


def test_same_generator_seed_gives_the_same_corruption():
    x = torch.rand(8, 1, 16, 16)
    for spec in ("gaussian:0.3", "sp:0.1", "erase", "watermark"):
        c = parse_corruption(spec)
        a = c(x, torch.Generator().manual_seed(3))
        b = c(x, torch.Generator().manual_seed(3))
        assert torch.equal(a, b), spec


@pytest.mark.parametrize("spec, words", [
    ("blur:2", "expected one of"),
    ("gaussian:-1", "noise std > 0"),
    ("saltpepper:1.5", "fraction in (0, 1]"),
    ("erase:abc", "fraction"),
    ("logo:/no/such/logo.png", "does not exist"),
])
def test_bad_specs_are_refused_with_the_flag_named(spec, words):
    with pytest.raises(VaekitError, match="^denoise: ") as e:  # Python names the field ...
        parse_corruption(spec)
    assert words in str(e.value)
    assert e.value.worded(flag).startswith("--denoise: ")  # ... and the CLI the flag


def test_check_batch_names_the_expected_shape():
    with pytest.raises(VaekitError, match=r"\(N, 1, 28, 28\).*got \(4, 3, 28, 28\)"):
        check_batch(torch.zeros(4, 3, 28, 28), (1, 28, 28), "X")
    with pytest.raises(VaekitError, match="got \\(4, 1, 32, 32\\)"):
        check_batch(torch.zeros(4, 1, 32, 32), (1, 28, 28), "X")
    assert check_batch(torch.zeros(4, 784, dtype=torch.uint8), (1, 28, 28), "X").shape == (4, 1, 28, 28)
    assert check_batch(torch.zeros(4, 28, 28), (1, 28, 28), "X").shape == (4, 1, 28, 28)
    with pytest.raises(VaekitError, match=r"\[0, 1\]"):
        check_batch(torch.full((2, 1, 28, 28), 3.0), (1, 28, 28), "X")
