"""Known-answer tests of the Fréchet distance, the latent statistics, PSNR and SSIM."""

import math

import pytest
import torch

from vaekit.objectives.detail import ssim
from vaekit.tasks.metrics import (
    effective_classes,
    frechet_distance,
    frechet_from_stats,
    latent_stats,
    psnr,
)


def test_identical_sets_are_at_distance_zero():
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_closed_form_for_diagonal_gaussians():
    mu_a, mu_b = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([3.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = float(((mu_a - mu_b) ** 2).sum() + (var_a + var_b - 2 * (var_a * var_b).sqrt()).sum())
    got = frechet_from_stats(mu_a, torch.diag(var_a), mu_b, torch.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-10)  # 13 + (4 + 1 + 0) = 18


def test_closed_form_for_full_covariances_commuting_case():
    # cov_b = 4 cov_a: Tr(a + b - 2 (a^1/2 b a^1/2)^1/2) = Tr(a + 4a - 4a) = Tr(a)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    cov_a = q @ torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)) @ q.T
    got = frechet_from_stats(torch.zeros(4), cov_a, torch.zeros(4), 4 * cov_a)
    assert got == pytest.approx(10.0, rel=1e-8)


def test_samples_of_shifted_gaussians_approach_the_closed_form():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    b = 2.0 * torch.randn(200_000, 3, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0.0, -1.0])
    expected = 2.0 + 3 * (1 + 4 - 2 * 2)  # |shift|^2 + sum (1 + 4 - 2 sqrt(4))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_effective_classes_known_values():
    assert effective_classes(torch.full((10,), 0.1)) == pytest.approx(10)
    assert effective_classes(torch.tensor([0.0, 1.0, 0.0])) == pytest.approx(1)
    assert effective_classes(torch.tensor([0.5, 0.5, 0.0, 0.0])) == pytest.approx(2)
    # two classes at 3:1 -> exp(H) with H = -(3/4 ln 3/4 + 1/4 ln 1/4)
    assert effective_classes(torch.tensor([0.75, 0.25])) == pytest.approx(math.exp(0.5623351446))


def test_latent_stats_known_values():
    codes = torch.tensor([[0.0, 0.0], [1.0, -1.0], [5.0, 0.0], [-1.0, 1.0]])
    stats = latent_stats(codes, kl_per_dim=torch.tensor([[1.0, 0.0]] * 4))
    assert stats["within_3sigma"] == 0.75
    assert stats["max_abs"] == 5.0
    assert stats["mean"] == [1.25, 0.0]
    assert stats["kl_per_dim"] == [1.0, 0.0] and stats["kl_total"] == 1.0
    assert stats["active_units"] == 2
    flat = latent_stats(torch.tensor([[0.0, 1.0], [0.0, 1.0001]]))
    assert flat["active_units"] == 0 and "kl_per_dim" not in flat
    assert math.isclose(flat["std"][0], 0.0)


def test_reference_classifier_is_reproducible_and_cached(tmp_path, monkeypatch):
    import numpy as np

    from vaekit.datasets import Dataset, ImageSet
    from vaekit.tasks.classifier import reference_classifier

    g = np.random.default_rng(0)
    images = torch.from_numpy(g.integers(0, 255, (64, 1, 8, 8), dtype=np.uint8))
    images[:32] //= 4  # class 0 darker
    labels = torch.tensor([0] * 32 + [1] * 32)
    data = Dataset("toy", ImageSet(images, labels), None, ["dark", "light"])
    torch.manual_seed(123)  # the caller's stream must not change the result ...
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "a"))
    first = reference_classifier(data, data.train, data.train, log=lambda m: None)
    after = torch.rand(1)
    torch.manual_seed(123)
    expected_after = torch.rand(1)
    assert torch.equal(after, expected_after)  # ... and training must not consume it
    torch.manual_seed(999)
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "b"))
    second = reference_classifier(data, data.train, data.train, log=lambda m: None)
    x = images.float() / 255
    assert torch.equal(first.features(x), second.features(x))
    assert first.test_accuracy > 0.9
    cached = reference_classifier(data, data.train, data.train, log=lambda m: pytest.fail("retrained"))
    assert torch.equal(cached.features(x), second.features(x))


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 12, 12), (3, 64, 64), (1, 25, 25)])
def test_the_reference_nets_pool_is_torchs_and_skips_a_map_of_its_own_size(shape):
    # 28x28 reaches the pool at its 7x7 output (passed through); 12x12 at 3x3 (enlarged to 7x7);
    # 64x64 at 16x16 and 25x25 at 7x7 after rounding up
    from torch.nn import functional as F

    from vaekit.tasks.classifier import ReferenceNet

    torch.manual_seed(0)
    net = ReferenceNet(shape, 10)
    x = torch.rand(3, *shape)
    maps = net.conv[:4](x)
    pooled = F.adaptive_avg_pool2d(maps, (min(7, shape[1]), min(7, shape[2])))
    out = net.conv[4](maps)
    assert torch.equal(out, pooled)
    assert (out is maps) == (maps.shape[-2:] == pooled.shape[-2:])


# ---------------------------------------------------------------- PSNR and SSIM


def test_psnr_of_a_constant_error_is_known():
    a = torch.zeros(3, 1, 8, 8)
    assert torch.allclose(psnr(a, a + 0.1), torch.full((3,), 20.0, dtype=torch.float64))
    assert torch.allclose(psnr(a, a + 0.01), torch.full((3,), 40.0, dtype=torch.float64))
    assert float(psnr(a, a, min_mse=1e-10)[0]) == pytest.approx(100.0)


def _ssim_reference(a, b, size=11, sigma=1.5):
    """Direct float64 SSIM with a full 2-D window, the textbook formula, for one grey image."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    win = g[:, None] * g[None, :]
    win = win / win.sum()
    h, w = a.shape
    vals = []
    for i in range(h - size + 1):
        for j in range(w - size + 1):
            pa, pb = a[i : i + size, j : j + size], b[i : i + size, j : j + size]
            ma, mb = (win * pa).sum(), (win * pb).sum()
            va, vb = (win * pa * pa).sum() - ma**2, (win * pb * pb).sum() - mb**2
            cov = (win * pa * pb).sum() - ma * mb
            c1, c2 = 0.01**2, 0.03**2
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(torch.stack(vals).mean())


def test_ssim_matches_the_textbook_formula_and_known_values():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 1, 16, 16, generator=g)
    b = (a + 0.2 * torch.randn(2, 1, 16, 16, generator=g)).clamp(0, 1)
    got = ssim(a, b)
    for k in range(2):
        assert float(got[k]) == pytest.approx(_ssim_reference(a[k, 0].double(), b[k, 0].double()), abs=1e-5)
    assert torch.allclose(ssim(a, a), torch.ones(2, dtype=torch.float64))
    # constant images: the structure term is 1, the luminance term (2pq + C1) / (p^2 + q^2 + C1)
    p, q, c1 = 0.2, 0.6, 0.01**2
    flat = ssim(torch.full((1, 3, 12, 12), p), torch.full((1, 3, 12, 12), q))
    assert float(flat[0]) == pytest.approx((2 * p * q + c1) / (p * p + q * q + c1), rel=1e-5)
