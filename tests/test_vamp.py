"""The VampPrior: a known answer, training under every objective, saving and loading, the CLI."""

import pytest
import torch
from conftest import TINY

from vaekit.errors import SettingError
from vaekit.models import DiagonalGaussian, build_model
from vaekit.models.priors import StandardNormal
from vaekit.objectives import OBJECTIVES, Batch, kl_term
from vaekit.run.checkpoint import load, save
from vaekit.settings import TrainConfig


def _vamp(k=4, **kw):
    return build_model(model="vae", image_shape=(1, 8, 8), latent_dim=3, hidden=[16], prior="vamp",
                       pseudo_inputs=k, **kw)


def test_one_pseudo_input_mapped_to_the_origin_with_unit_variance_is_the_standard_normal():
    torch.manual_seed(0)
    net = _vamp(k=1)
    with torch.no_grad():  # the encoder's head gives mean 0, log-variance 0 for every input
        net.head.weight.zero_()
        net.head.bias.zero_()
    z = torch.randn(50, 3)
    torch.testing.assert_close(net.prior.log_prob(z), StandardNormal().log_prob(z))
    # so the Monte-Carlo KL the objectives use matches N(0, I)'s closed form for any q(z|x)
    q = DiagonalGaussian(torch.tensor([[0.5, -1.0, 0.2]]).repeat(4, 1), torch.zeros(4, 3), net.prior)
    with torch.no_grad():
        mc = kl_term(net, q, q.sample(n=20000))
    closed = 0.5 * (0.5**2 + 1.0 + 0.2**2)
    torch.testing.assert_close(mc, torch.full((4,), closed), atol=0.03, rtol=0)


@pytest.mark.learned
@pytest.mark.parametrize("objective", ["elbo", "iwae", "tcvae"])
def test_a_vae_with_the_vamp_prior_trains_under_every_objective(objective):
    torch.manual_seed(0)
    net = _vamp()
    x = (torch.rand(4, 1, 8, 8) > 0.5).float().repeat(4, 1, 1, 1)
    s = TrainConfig(objective=objective, k=2 if objective == "iwae" else 1, prior="vamp")
    fn = OBJECTIVES[objective].fn
    first = float(fn(net, Batch(x, x), s)["loss"].detach())
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    before = net.prior.pseudo_inputs.detach().clone()
    for _ in range(30):
        loss = fn(net, Batch(x, x), s)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    # final/first 0.57-0.71 (elbo), 0.34-0.57 (iwae), 0.63-0.74 (tcvae) over seeds 0-4 x {bf16, float32}, Intel Xeon with AMX (benchmarks/margins.py)
    assert float(fn(net, Batch(x, x), s)["loss"].detach()) < 0.8 * first
    assert not torch.equal(before, net.prior.pseudo_inputs.detach())  # the pseudo-inputs learn too


def test_save_and_load_keep_the_pseudo_inputs(tmp_path):
    torch.manual_seed(0)
    net = _vamp().eval()
    with torch.no_grad():
        net.prior.pseudo_inputs.add_(torch.randn_like(net.prior.pseudo_inputs))
    save(net, tmp_path / "run")
    back = load(tmp_path / "run")
    torch.testing.assert_close(back.prior.pseudo_inputs, net.prior.pseudo_inputs)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(back.sample(6, g1), net.sample(6, g2))


def test_weights_that_hold_pseudo_input_logits_load_as_the_same_images(tmp_path):
    # runs saved before the pixel parameterisation keep "prior.pseudo" = logits
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    net = _vamp().eval()
    save(net, tmp_path / "run")
    weights = tmp_path / "run" / "model.safetensors"
    state = load_file(str(weights))
    logits = torch.randn_like(state.pop("prior.pseudo_inputs"))
    save_file({**state, "prior.pseudo": logits}, str(weights))
    back = load(tmp_path / "run")
    torch.testing.assert_close(back.prior.pseudo_inputs, torch.sigmoid(logits))
    assert "prior.pseudo" not in back.state_dict()


def test_pseudo_inputs_stay_images_however_far_the_optimizer_pushes_them():
    net = _vamp(k=2)
    with torch.no_grad():
        net.prior.pseudo_inputs.copy_(torch.tensor([-3.0, 4.0]).view(2, 1, 1, 1).expand(2, 1, 8, 8))
        clipped = net.encode(torch.stack([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)]))
        mean, _ = net.prior.components()
    torch.testing.assert_close(mean, clipped.mean.float())


def test_vamp_is_refused_where_it_cannot_work():
    with pytest.raises(SettingError, match="prior"):
        build_model(model="ae", prior="vamp")
    with pytest.raises(SettingError, match="prior"):
        build_model(model="cvae", prior="vamp", num_classes=3)
    with pytest.raises(SettingError, match="pseudo_inputs"):
        build_model(model="vae", prior="vamp", pseudo_inputs=0)
    with pytest.raises(SettingError, match="prior"):
        TrainConfig(objective="mmd", prior="vamp")


def test_train_and_sample_from_the_command_line(tiny_data, tmp_path):
    from conftest import run_here

    run = tmp_path / "vamp"
    run_here("train", "--data", str(tiny_data), "--prior", "vamp", "--pseudo-inputs", "8", "--image-size", "8",
             "--image-channels", "1", "--latent-dim", "3", "--hidden", "16", "--epochs", "2", "--batch-size", "16",
             "--precision", "32", "--no-progress", "--out", str(run))
    assert load(run).prior.pseudo_inputs.shape == (8, 1, 8, 8)
    out = run_here("sample", str(run), "-n", "8").stdout.strip()
    assert out.endswith("sample.png")
    assert TINY  # the tiny settings the other in-process tests share


def test_the_command_line_refuses_vamp_for_an_ae_before_reading_data(tmp_path):
    from conftest import run_here

    r = run_here("train", "--data", "mnist", "--model", "ae", "--prior", "vamp", "--out", str(tmp_path / "x"),
                 check=False)
    assert r.returncode == 2 and "--prior" in r.stderr and not (tmp_path / "x").exists()
