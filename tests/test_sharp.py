"""The sharp objective and its terms: the focal frequency loss, MS-SSIM sized for small images, the
high-frequency share, the PatchGAN and its adaptive weight, and a run that trains with them."""

import csv
import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, run_main

import vaekit
from vaekit.models import build_model
from vaekit.objectives import OBJECTIVES, Batch, terms_of
from vaekit.objectives.detail import (
    focal_frequency,
    gradient_spectrum,
    high_frequency_share,
    ms_scales,
    ms_ssim,
    ssim,
)
from vaekit.objectives.losses import reconstruction, reconstruction_sum
from vaekit.objectives.sharp import PatchDiscriminator, adaptive_weight, last_layer
from vaekit.settings import TrainConfig


def _blur(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def test_l1_is_the_summed_absolute_error_per_image():
    logits, x = torch.randn(3, 2, 4, 5), torch.rand(3, 2, 4, 5)
    expected = (torch.sigmoid(logits) - x).abs().flatten(1).sum(1)
    assert torch.allclose(reconstruction(logits, x, "l1"), expected, atol=1e-5)
    assert torch.allclose(reconstruction_sum(logits, x, "l1"), expected.sum(), atol=1e-4)


def test_the_focal_frequency_loss_is_the_squared_error_when_unweighted_and_zero_on_a_match():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(4, 3, 12, 10, generator=g), torch.rand(4, 3, 12, 10, generator=g)
    # alpha 0 weighs every frequency 1: the orthonormal spectra's distance is the pixels' (Parseval)
    assert torch.allclose(focal_frequency(a, b, alpha=0), (a - b).square().flatten(1).sum(1), rtol=1e-4)
    assert torch.equal(focal_frequency(a, a), torch.zeros(4))
    # the focal weights are at most 1: the focal term never exceeds the plain one
    assert (focal_frequency(a, b) <= focal_frequency(a, b, alpha=0) + 1e-5).all()
    # an offset differs at one frequency (the mean), whose weight is the largest, 1: focal = plain
    shifted = a + 0.1
    assert float(focal_frequency(shifted, a).sum()) == pytest.approx(
        float(focal_frequency(shifted, a, alpha=0).sum()), rel=1e-3)


def test_the_gradient_spectrum_asks_for_detail_wherever_it_lands():
    g = torch.Generator().manual_seed(3)
    a = torch.rand(3, 2, 16, 12, generator=g)
    assert torch.equal(gradient_spectrum(a, a), torch.zeros(3))
    # phases left out: the same detail mirrored costs nothing, though every pixel is off, while
    # the blur the pixel terms prefer costs
    flipped = a.flip(-1)
    assert torch.allclose(gradient_spectrum(flipped, a), torch.zeros(3), atol=1e-4)
    assert torch.allclose(gradient_spectrum(a.flip(-2), a), torch.zeros(3), atol=1e-4)
    assert (gradient_spectrum(_blur(a), a) > 1).all()
    assert (focal_frequency(flipped, a, alpha=0) > focal_frequency(_blur(a), a, alpha=0)).all()
    # at most the gradients' squared error: the complex spectra's distance at the same weights
    b = torch.rand(3, 2, 16, 12, generator=g)

    def tile(x):
        x = torch.cat([x, x.flip(-1)], -1)
        return torch.fft.fft2(torch.cat([x, x.flip(-2)], -2), norm="ortho")

    fy, fx = torch.fft.fftfreq(32).view(-1, 1), torch.fft.fftfreq(24).view(1, -1)
    weights = (2 * math.pi) ** 2 * (fy.square() + fx.square())
    bound = ((tile(a) - tile(b)).abs().square() * weights).flatten(1).sum(1) / 4
    value = gradient_spectrum(a, b)
    assert (value > 0).all() and (value <= bound * (1 + 1e-5)).all()
    # a flat reconstruction (every amplitude but the mean's 0): a finite gradient, not NaN
    flat = torch.full_like(a, 0.5).requires_grad_()
    gradient_spectrum(flat, a).sum().backward()
    assert torch.isfinite(flat.grad).all()


def test_ms_ssim_scales_to_small_images_and_knows_its_answers():
    assert [ms_scales(s, s) for s in (7, 16, 28, 64, 128, 256)] == [1, 2, 3, 4, 5, 5]
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 64, 64, generator=g)
    assert torch.allclose(ms_ssim(a, a), torch.ones(3))
    # one scale is plain SSIM with the same window
    small = torch.rand(2, 1, 10, 10, generator=g)
    other = (small + 0.1 * torch.randn(2, 1, 10, 10, generator=g)).clamp(0, 1)
    assert torch.allclose(ms_ssim(small, other), ssim(small, other, window=7).float(), atol=1e-5)
    # blur and noise both lower it, more of each lowers it more
    assert (ms_ssim(_blur(a), a) < ms_ssim(0.5 * (a + _blur(a)), a)).all()
    # anti-correlated images: no NaN, and a finite gradient
    p = (1 - a).requires_grad_()
    value = ms_ssim(p, a).sum()
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(p.grad).all()


def test_the_high_frequency_share_sees_blur_and_detail():
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    slow = torch.sin(2 * math.pi * x / 32).expand(2, 1, 32, 32)
    checker = ((x + y) % 2).expand(2, 1, 32, 32)
    assert high_frequency_share(slow) < 1e-6 and high_frequency_share(checker) > 0.999
    faces = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    assert high_frequency_share(_blur(faces)) < 0.5 * high_frequency_share(faces)


@pytest.mark.parametrize("side", [8, 16, 28, 64, 128])
def test_the_patch_discriminator_fits_every_image_size(side):
    d = PatchDiscriminator(3, side, width=8, layers=3)
    out = d(torch.rand(2, 3, side, side))
    assert out.shape[:2] == (2, 1) and min(out.shape[-2:]) >= 1
    if side >= 64:  # a full-size PatchGAN: three stride-2 layers
        assert sum(m.stride == (2, 2) for m in d.modules() if isinstance(m, torch.nn.Conv2d)) == 3


def test_the_adaptive_weight_balances_the_gradients_at_the_last_layer():
    net = build_model(backbone="conv", image_shape=(1, 16, 16), channels=[4, 8], latent_dim=3)
    layer = last_layer(net)
    assert layer is net.decoder.net[-1][-1].weight  # the conv that makes the logits
    out = net.decoder(torch.randn(5, 3)).float()
    rec = out.square().sum()
    assert adaptive_weight(rec, 4 * rec, layer) == pytest.approx(0.25, rel=1e-3)


def _tiny_sharp(**knobs):
    net = build_model(backbone="conv", image_shape=(1, 16, 16), channels=[4, 8], latent_dim=3)
    s = TrainConfig(objective="sharp", loss="l1", adversarial_weight=0.5, patch_width=8, **knobs)
    entry = OBJECTIVES["sharp"]
    own = entry.network(net, s)
    return net, s, own, terms_of(entry, own[0])


def test_the_adversarial_term_waits_for_its_warm_up_and_then_weighs_in():
    net, s, own, fn = _tiny_sharp(adversarial_start=0.5)
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    early = fn(net, Batch(x, x, progress=0.2), s)
    assert early["adversarial"] == 0 and not early["discriminator"].requires_grad
    late = fn(net, Batch(x, x, progress=0.6), s)
    assert late["discriminator"].requires_grad and late["adversarial"] != 0
    assert {"recon", "kl", "frequency", "ms_ssim"} <= set(late)
    # the loss carries the adversarial term only under gradients; validation's leaves it out
    plain = fn(net, Batch(x, x, progress=0.2), s)["loss"]
    torch.manual_seed(0)
    with_adv = fn(net, Batch(x, x, progress=0.6), s)["loss"]
    torch.manual_seed(0)
    with torch.no_grad():
        evaluated = fn(net, Batch(x, x, progress=0.6), s)["loss"]
    assert not torch.isclose(with_adv, evaluated)
    assert torch.isfinite(plain)


def test_a_sharp_run_trains_steps_its_discriminator_after_the_warm_up_and_resumes(tiny_data, tmp_path):
    out = tmp_path / "sharp"
    settings = {**TINY, "epochs": 2, "image_size": 16, "channels": [4, 8]}
    cfg = TrainConfig(data=str(tiny_data), backbone="conv", objective="sharp", loss="l1", ssim_weight=0.5,
                      adversarial_weight=0.5, patch_width=8, adversarial_start=0.5, out=str(out), **settings)
    vaekit.fit(cfg)
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    # epoch 1 is all warm-up (progress < 0.5): no adversarial term in training; epoch 2 has it
    assert float(rows[0]["train_adversarial"]) == 0 and float(rows[1]["train_adversarial"]) != 0
    assert all(math.isfinite(float(r["val_ms_ssim"])) for r in rows)
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["objective"] == "sharp" and config["train"]["patch_width"] == 8
    # its codes stray from N(0, I): new images come from a mixture fitted to them unless told
    assert not list(out.glob("gmm-*.json"))
    code, _, err = run_main("sample", str(out), "-n", "4")
    assert code == 0 and (out / "sample.png").is_file() and list(out.glob("gmm-*.json")), err
    run = vaekit.Run.open(out)
    assert run.default_sampler == "gmm"
    assert torch.equal(run.sample(4, seed=1), run.sample(4, "gmm", seed=1))
    assert not torch.equal(run.sample(4, seed=1), run.sample(4, "prior", seed=1))


def test_other_runs_sample_from_their_prior_unless_told(tiny_run):
    run = vaekit.Run(tiny_run[0])
    assert run.settings.objective == "elbo" and run.default_sampler == "prior"


def test_the_cli_refuses_bad_sharp_settings_in_one_line(tiny_data, tmp_path):
    code, _, err = run_main("train", "--data", str(tiny_data), "--objective", "sharp", "--patch-layers", "9",
                            "--out", str(tmp_path / "x"))
    assert code == 2 and "--patch-layers" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    code, _, err = run_main("train", "--data", str(tiny_data), "--ssim-weight", "1", "--out", str(tmp_path / "y"))
    assert code == 2 and "--ssim-weight" in err and "sharp" in err and not (tmp_path / "y").exists()
