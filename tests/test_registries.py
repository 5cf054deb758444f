"""A new objective, prior or backbone is one function (or class) plus one registry line: each is
registered here in a few lines, trained for real, and shows up in the logs, the run and the CLI."""

import json
import math

import torch
from conftest import TINY, run_cli
from torch import nn

import vaekit
from vaekit.models import BACKBONES, PRIORS
from vaekit.models.backbones import MLPDecoder, MLPEncoder
from vaekit.objectives import OBJECTIVES, Objective, kl_term
from vaekit.settings import TrainConfig


def l1_objective(model, batch, s):
    """Toy: L1 reconstruction of the mean decode plus a tenth of the KL."""
    logits, q, z = model(batch.x, batch.y)
    l1 = (torch.sigmoid(logits[0]) - batch.target).abs().flatten(1).sum(1).mean()
    kl = kl_term(model, q, z).mean()
    return {"loss": l1 + 0.1 * kl, "l1": l1.detach(), "kl": kl.detach()}


class Laplace(nn.Module):
    """Toy prior: independent standard Laplace coordinates (no closed-form KL to a Gaussian)."""

    def __init__(self, config):
        super().__init__()
        self.latent_dim = config.latent_dim

    def log_prob(self, z):
        return (-z.abs() - math.log(2)).sum(-1)

    def sample(self, n, generator=None, device=None):
        u = torch.rand((n, self.latent_dim), generator=generator) - 0.5
        return -u.sign() * torch.log1p(-2 * u.abs())

    def kl(self, q):
        return None

    def kl_per_dim(self, q):
        return None


def linear(cfg):
    """Toy backbone: no hidden layer at all."""
    return MLPEncoder(cfg.image_shape, [], cfg.activation), MLPDecoder(cfg.image_shape, [], cfg.latent_dim
                                                                       + cfg.num_classes)


def test_a_new_objective_trains_and_its_terms_are_logged(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(OBJECTIVES, "l1", Objective(l1_objective, about="toy"))  # the one line
    run = vaekit.fit(TrainConfig(data=str(tiny_data), objective="l1", out=str(tmp_path / "run"), **TINY))
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_loss", "train_l1", "train_kl", "val_l1", "val_kl"} <= set(header)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_l1"] > 0 and "test_objective" in summary
    assert json.loads((run / "config.json").read_text())["train"]["objective"] == "l1"


def test_a_new_prior_is_used_by_training_sampling_and_the_likelihood(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(PRIORS, "laplace", Laplace)  # the one line
    run = vaekit.fit(TrainConfig(data=str(tiny_data), prior="laplace", out=str(tmp_path / "run"), **TINY))
    model = vaekit.load(run)
    assert isinstance(model.prior, Laplace)
    z = model.prior.sample(20000, torch.Generator().manual_seed(0))
    assert abs(float(z.abs().mean()) - 1.0) < 0.05  # E|z| = 1 for a standard Laplace
    q = model.encode(torch.rand(4, 1, 8, 8))
    assert q.kl() is None  # no closed form: the objective used log q - log p instead
    assert json.loads((run / "summary.json").read_text())["test_kl"] > 0
    assert vaekit.Run.open(run).sample(6).shape == (6, 1, 8, 8)
    from vaekit.tasks.likelihood import log_likelihood

    assert torch.isfinite(log_likelihood(model, torch.rand(3, 1, 8, 8), 8, progress=False)).all()


def test_a_new_backbone_builds_trains_and_reloads(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(BACKBONES, "linear", linear)  # the one line
    run = vaekit.fit(TrainConfig(data=str(tiny_data), backbone="linear", out=str(tmp_path / "run"), **TINY))
    model = vaekit.load(run)
    assert [type(m).__name__ for m in model.encoder.net] == ["Flatten"]
    assert model.reconstruct(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)


def test_models_lists_every_registry_entry():
    out = run_cli("models").stdout
    for name in ("ae", "vae", "cvae", "mlp", "conv", "normal", "elbo", "iwae", "prior", "gmm"):
        assert f"  {name} " in out, name
    assert "Burda et al. 2016" in out


def test_a_registry_read_by_two_threads_at_once_is_read_whole(tmp_path, monkeypatch):
    # the page's server answers two runs' requests in two threads; the first read of a registry
    # imports its home, and a second thread must wait for it rather than find the table empty
    import sys
    import threading

    from vaekit.registry import Registry

    (tmp_path / "slow_home.py").write_text(
        "import time\nfrom slow_registry import TABLE\ntime.sleep(0.3)\nTABLE['prior'] = 'draws'\n")
    (tmp_path / "slow_registry.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    import slow_registry

    slow_registry.TABLE = Registry("sampler", "slow_home")
    seen, start = [], threading.Barrier(2)

    def read():
        start.wait()
        seen.append(sorted(slow_registry.TABLE))

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [["prior"], ["prior"]]
    monkeypatch.delitem(sys.modules, "slow_home")
