"""The two-stage sampler: stage two learns a code distribution N(0, I) does not match, and the
sampler works from the command line, cached in the run folder."""

import torch

from vaekit.run.two_stage import fit_code_vae


def test_stage_two_reproduces_codes_far_from_the_prior():
    # codes in two tight clusters at (-3, 0) and (3, 0): N(0, I) puts 68% of its draws at |z1| < 1,
    # where no code lies
    g = torch.Generator().manual_seed(0)
    side = torch.randint(2, (2000,), generator=g) * 6.0 - 3.0
    mean = torch.stack([side, torch.zeros(2000)], 1)
    net = fit_code_vae(mean, torch.full((2000, 2), 0.3), steps=1500, hidden=64)
    z = net.sample(4000, torch.Generator().manual_seed(1))
    assert float((z[:, 0].abs() < 1).float().mean()) < 0.1
    assert abs(float(z[:, 0].abs().mean()) - 3.0) < 0.5 and abs(float((z[:, 0] > 0).float().mean()) - 0.5) < 0.1
    assert float(z[:, 1].std()) < 0.8


def test_stage_two_samples_keep_the_noise_of_dimensions_the_decoder_ignores():
    # one informative dimension and 20 that are N(0, 1) noise, as in a VAE whose KL is a few nats:
    # stage two explains them by its noise gamma, and its draws must keep that spread, not collapse
    g = torch.Generator().manual_seed(0)
    mean = torch.cat([torch.randint(2, (2000, 1), generator=g) * 6.0 - 3.0, torch.zeros(2000, 20)], 1)
    std = torch.cat([torch.full((2000, 1), 0.3), torch.ones(2000, 20)], 1)
    net = fit_code_vae(mean, std, steps=1500, hidden=64)
    z = net.sample(4000, torch.Generator().manual_seed(1))
    noise = z[:, 1:].std(0)
    # margins, seeds 0-4 (stage two trains in float32 on every CPU): spread 0.96-1.02, |z1| 2.57-2.63;
    # the means alone (the old sampler) spread 0.02-0.04
    assert float(noise.min()) > 0.7 and float(noise.max()) < 1.3
    assert abs(float(z[:, 0].abs().mean()) - 3.0) < 1.0


def test_sample_with_the_two_stage_sampler(tiny_run, monkeypatch, tmp_path):
    import shutil

    from conftest import run_here

    run, cache = tiny_run
    mine = tmp_path / "run"
    shutil.copytree(run, mine)
    monkeypatch.setenv("VAEKIT_DATA", str(cache))
    monkeypatch.setattr("vaekit.run.two_stage.STEPS", 200)
    png = run_here("sample", str(mine), "-n", "8", "--sampler", "two-stage").stdout.strip()
    assert png.endswith("sample.png") and (mine / "two_stage.safetensors").is_file()
    first = (mine / "sample.png").read_bytes()
    run_here("sample", str(mine), "-n", "8", "--sampler", "two-stage")  # from the cache: same images
    assert (mine / "sample.png").read_bytes() == first
