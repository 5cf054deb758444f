"""The ELBO's KL variations, each with a known answer: warm-up and cyclical schedules of the KL
weight, free bits, controlled capacity; the default stays the plain ELBO; a scheduled run
resumes exactly."""

import csv
import dataclasses
import signal

import pytest
import torch
from conftest import TINY

import vaekit
from vaekit.errors import SettingError
from vaekit.models import build_model
from vaekit.objectives import OBJECTIVES, Batch
from vaekit.objectives.elbo import kl_factor
from vaekit.settings import TrainConfig


def test_schedules_rise_from_zero_to_one():
    assert [kl_factor("constant", p, 0.25, 4) for p in (0.0, 0.5, 1.0)] == [1.0, 1.0, 1.0]
    assert [kl_factor("linear", p, 0.25, 4) for p in (0.0, 0.125, 0.25, 0.9)] == [0.0, 0.5, 1.0, 1.0]
    # 4 cycles of a quarter each; within each, half rising and half held (Fu et al. 2019)
    cyc = [kl_factor("cyclical", p, 0.5, 4) for p in (0.0, 0.0625, 0.125, 0.2, 0.25, 0.3125, 1.0)]
    assert cyc == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0]


def _settings(**changes):
    return dataclasses.replace(TrainConfig(), **changes)


def _terms(net, x, progress=1.0, **changes):
    torch.manual_seed(0)
    return OBJECTIVES["elbo"].fn(net, Batch(x, x, None, progress), _settings(**changes))


def test_the_variations_change_the_penalty_not_the_reported_kl():
    torch.manual_seed(0)
    net = build_model(model="vae", image_shape=(1, 8, 8), latent_dim=4, hidden=[16])
    x = torch.rand(32, 1, 8, 8)
    plain = _terms(net, x)
    assert float(plain["loss"].detach()) == pytest.approx(float(plain["recon"] + plain["kl"]), rel=1e-6)
    start = _terms(net, x, progress=0.0, kl_schedule="linear")
    assert float(start["loss"].detach()) == pytest.approx(float(start["recon"]), rel=1e-6)  # weight 0
    assert float(start["kl"]) == pytest.approx(float(plain["kl"]), rel=1e-6)
    # capacity C at the end of training: the penalty is |KL - C|
    cap = _terms(net, x, capacity=5.0)
    assert float(cap["loss"].detach() - cap["recon"]) == pytest.approx(abs(float(cap["kl"]) - 5.0), rel=1e-5)
    # free bits far above every dimension's KL: the penalty is the constant D * lambda and adds no
    # gradient -- the same gradients as the reconstruction alone (beta 0)
    def grads(**changes):
        net.zero_grad()
        terms = _terms(net, x, **changes)
        terms["loss"].backward()
        return terms, [p.grad.clone() for p in net.parameters()]

    free, g_free = grads(free_bits=100.0)
    _, g_recon = grads(beta=0.0)
    assert float(free["loss"].detach() - free["recon"]) == pytest.approx(400.0)
    assert all(torch.allclose(a, b) for a, b in zip(g_free, g_recon, strict=True))


def test_the_variations_are_refused_where_they_would_be_ignored():
    with pytest.raises(SettingError, match="kl_schedule"):
        TrainConfig(objective="iwae", loss="bce", kl_schedule="linear")
    with pytest.raises(SettingError, match="free_bits"):
        TrainConfig(objective="mmd", free_bits=0.5)
    with pytest.raises(SettingError, match="kl_warmup"):
        TrainConfig(kl_warmup=0)


def test_a_cyclical_run_cut_mid_epoch_resumes_to_the_same_result(tiny_data, tmp_path, monkeypatch):
    cfg = TrainConfig(data=str(tiny_data), out=str(tmp_path / "whole"), kl_schedule="cyclical", kl_cycles=2,
                      free_bits=0.1, capacity=3.0, **TINY)
    whole = vaekit.fit(cfg)
    real, calls = OBJECTIVES["elbo"], {"n": 0}

    def interrupting(net, batch, s):
        if net.training:
            calls["n"] += 1
            if calls["n"] == 7:
                signal.raise_signal(signal.SIGINT)
        return real.fn(net, batch, s)

    monkeypatch.setitem(OBJECTIVES, "elbo", dataclasses.replace(real, fn=interrupting))
    with pytest.raises(SystemExit):
        vaekit.fit(dataclasses.replace(cfg, out=str(tmp_path / "cut")))
    monkeypatch.setitem(OBJECTIVES, "elbo", real)
    resumed = vaekit.fit(resume=tmp_path / "cut")

    def rows(run):
        with open(run / "metrics.csv") as f:
            return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in csv.DictReader(f)]

    assert rows(resumed) == rows(whole)
