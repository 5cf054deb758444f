"""The importance-sampled likelihood against closed forms, and the pieces of the IWAE protocol.

Probabilistic PCA, p(z) = N(0, I), p(x|z) = N(Wz + mu, s^2 I), has p(x) = N(mu, WW' + s^2 I) and
a Gaussian posterior, so the estimator's answers are known exactly.
"""

import json
import math

import pytest
import torch
from conftest import run_here, run_main

import vaekit
from vaekit.datasets import ImageSet
from vaekit.datasets.binarize import binarized_images, binarized_splits
from vaekit.datasets.imageset import Splits
from vaekit.models import DiagonalGaussian, StandardNormal, build_model
from vaekit.tasks.likelihood import bernoulli_log_lik, importance_bound, log_likelihood
from vaekit.train.schedules import iwae_factor

P, D, SIGMA = 6, 2, 0.5


def _ppca():
    g = torch.Generator().manual_seed(0)
    # orthogonal columns make the exact posterior's covariance diagonal: M = W'W + s^2 I
    u, _ = torch.linalg.qr(torch.randn(P, D, generator=g, dtype=torch.float64))
    w = u * torch.tensor([2.0, 0.7], dtype=torch.float64)
    mu = torch.randn(P, generator=g, dtype=torch.float64)
    x = torch.randn(8, P, generator=g, dtype=torch.float64) * 1.5 + mu
    return w, mu, x


def _log_px(w, mu, x):
    cov = w @ w.T + SIGMA**2 * torch.eye(P, dtype=torch.float64)
    return torch.distributions.MultivariateNormal(mu, cov).log_prob(x)  # (B,)


def _log_lik(w, mu, x):
    def f(z):  # z (c, B, D) -> log N(x; Wz + mu, s^2 I), (c, B)
        r = x - (z.double() @ w.T + mu)
        return (-0.5 * (r**2).sum(-1) / SIGMA**2 - P * math.log(SIGMA) - 0.5 * P * math.log(2 * math.pi))
    return f


def _exact_posterior(w, mu, x):
    m = (w**2).sum(0) + SIGMA**2  # (D,) the diagonal of M
    mean = ((x - mu) @ w) / m
    var = SIGMA**2 / m
    return DiagonalGaussian(mean.float(), var.log().float().expand_as(mean).clone())


def test_exact_posterior_gives_the_marginal_likelihood_for_any_k():
    w, mu, x = _ppca()
    q = _exact_posterior(w, mu, x)
    truth = _log_px(w, mu, x)
    for k, chunk in ((1, 1), (50, 7)):
        est = importance_bound(q, _log_lik(w, mu, x), k, chunk, torch.Generator().manual_seed(1))
        assert torch.allclose(est, truth, atol=1e-3), (k, est - truth)  # every weight equals p(x)


def test_bound_rises_with_k_to_the_marginal_and_the_elbo_stays_below():
    w, mu, x = _ppca()
    x = x.repeat(50, 1)  # 50 replicates of the 8 points, so averages over rows are precise
    exact = _exact_posterior(w, mu, x)
    # a wrong posterior: shifted mean, 1.5 times the standard deviation
    q = DiagonalGaussian(exact.mean + 0.1, exact.logvar + math.log(1.5**2))
    truth = _log_px(w, mu, x)
    f = _log_lik(w, mu, x)
    g = torch.Generator().manual_seed(2)
    z = q.sample(g, n=20_000)  # the ELBO is the mean log weight (L_1 averaged over draws)
    elbo = (f(z) + StandardNormal().log_prob(z) - q.log_prob(z)).mean(0)
    # ELBO = log p(x) - KL(q || p(z|x)), both Gaussian
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(q.mean.double(), q.std.double()),
        torch.distributions.Normal(exact.mean.double(), exact.std.double())).sum(-1)
    assert (elbo < truth).all()
    assert torch.allclose(elbo.mean(), (truth - kl).mean(), atol=0.01)
    gaps = [float((truth - importance_bound(q, f, k, 256, g)).mean()) for k in (1, 10, 100)]
    # L_k rises towards log p(x): the gap starts at the KL and shrinks roughly like 1/k
    assert gaps[0] == pytest.approx(float(kl.mean()), abs=0.12)  # one draw per row: stderr 0.04
    assert gaps[1] < gaps[0] / 5 and abs(gaps[2]) < 0.01, gaps
    few = slice(0, 8)
    q8 = DiagonalGaussian(q.mean[few], q.logvar[few])
    far = importance_bound(q8, _log_lik(w, mu, x[few]), 20_000, 4096, g)
    assert torch.allclose(far, truth[few], atol=0.01)  # k = 20,000: the closed form


def test_bernoulli_log_lik_fused_and_eager_are_minus_the_summed_bce():
    logits, x = torch.randn(3, 4, 10) * 4, (torch.rand(4, 10) > 0.5).float()
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none").sum(-1)
    assert torch.allclose(bernoulli_log_lik(logits, x), expected, atol=1e-4)
    # one compiled kernel (a compile costs ~10 s on a cold cache): bf16 logits, which the fused
    # kernel widens itself, against the eager sum of the widened ones
    half = logits.bfloat16()
    widened = bernoulli_log_lik(half.float(), x)
    assert torch.allclose(bernoulli_log_lik(half, x, fused=True), widened, atol=1e-4)


@pytest.mark.learned
def test_model_estimate_is_above_the_elbo_and_bf16_agrees_with_float32():
    torch.manual_seed(0)
    model = build_model(model="vae", image_shape=(1, 6, 6), latent_dim=3, hidden=[32, 32],
                        activation="tanh").eval()
    x = (torch.rand(40, 1, 6, 6) > 0.6).float()
    l1 = log_likelihood(model, x, 1, batch_size=16, seed=0, precision="32", progress=False)
    l200 = log_likelihood(model, x, 200, batch_size=16, seed=0, precision="32", progress=False)
    bf16 = log_likelihood(model, x, 200, batch_size=16, seed=0, precision="bf16", progress=False)
    assert l1.shape == (40,) and l1.dtype == torch.float64
    # over seeds 0-4 x {bf16, float32} (benchmarks/margins.py, Intel Xeon with AMX): the k=200 gain
    # 0.010-0.155 nats (thin, but a bound that rises with k), bf16 gap 0.0017-0.0035, ELBO gap 0.003-0.107
    assert l200.mean() > l1.mean()
    assert (bf16 - l200).abs().max() < 0.05
    with torch.no_grad():  # L_1 averaged over many draws is the ELBO: recon + analytic KL
        q = model.encode(x)
        z = q.sample(n=400)
        logits = model.decode_samples(z)
        elbo = bernoulli_log_lik(logits.flatten(2), x.flatten(1)).mean(0) - q.kl()
    assert abs(float(elbo.mean()) - float(l1.mean())) < 0.3


def test_iwae_schedule_matches_the_paper_at_3280_epochs():
    steps = 7  # per epoch
    f = iwae_factor(3280 * steps)
    # stage i lasts 3^i epochs at 10^(-i/7): epochs 0 | 1-3 | 4-12 | 13-39 | ... | 1093-3279
    starts = [0, 1, 4, 13, 40, 121, 364, 1093]
    for i, start in enumerate(starts):
        assert f(start * steps) == pytest.approx(10 ** (-i / 7))
        if start:
            assert f(start * steps - 1) == pytest.approx(10 ** (-(i - 1) / 7))
    assert f(3280 * steps - 1) == pytest.approx(0.1)


def test_binarization_draws_zeros_and_ones_at_the_grey_level():
    grey = torch.full((500, 1, 4, 4), 64, dtype=torch.uint8)  # 0.25
    images = ImageSet(grey, torch.arange(500))
    a, b = binarized_images(images, seed=3), binarized_images(images, seed=3)
    assert torch.equal(a.images, b.images)  # a seeded draw is fixed
    assert set(a.images.unique().tolist()) <= {0, 255}
    assert abs(a.images.float().mean().item() / 255 - 0.25) < 0.02
    assert torch.equal(a.labels, images.labels)
    splits = Splits(images, images.subset(torch.arange(10).numpy()), images, "test")
    dyn = binarized_splits(splits, "dynamic", seed=0)
    assert dyn.train is images  # training images are drawn afresh at every step
    assert set(dyn.val.images.unique().tolist()) <= {0, 255} and len(dyn.val) == 10
    assert "dynamically binarized" in dyn.test_protocol
    assert binarized_splits(splits, "none", seed=0) is splits


@pytest.mark.learned
@pytest.mark.slow
def test_iwae_preset_trains_and_evaluate_reports_the_k_sample_bound(tmp_path):
    run = tmp_path / "iwae"
    run_here("train", "--preset", "iwae", "--epochs", "1", "--batch-size", "500", "--objective", "iwae",
            "--k", "3", "--keep-every", "1", "--precision", "32", "--no-progress", "--out", str(run))
    cfg = json.loads((run / "config.json").read_text())
    train, model = cfg["train"], cfg["model"]
    assert (model["hidden"], model["activation"], model["latent_dim"]) == ([200, 200], "tanh", 50)
    assert (train["binarize"], train["lr_schedule"], train["adam_eps"]) == ("dynamic", "iwae", 1e-4)
    assert (train["objective"], train["k"], train["batch_size"], train["epochs"]) == ("iwae", 3, 500, 1)
    kept = vaekit.load(run, snapshot=1).state_dict()
    assert all(torch.equal(v, kept[n]) for n, v in vaekit.load(run).state_dict().items())
    proc = run_here("evaluate", str(run), "--k", "50", "-n", "300", "--no-progress")
    assert "likelihood" in proc.stdout
    result = json.loads((run / "eval.json").read_text())
    lik, elbo = result["likelihood"], result["elbo"]
    assert lik["k"] == 50 and "k = 50" in lik["protocol"] and "dynamically binarized" in lik["protocol"]
    assert "dynamically binarized" in result["split"]
    # the 50-sample bound is tighter than the ELBO: NLL 233.7-234.5, 2.9-4.1 below it; Fashion-MNIST
    # 250-254 nats worse (seeds 0-4 x {bf16, float32}, Intel Xeon with AMX, benchmarks/margins.py)
    assert 60 < lik["nll"] < elbo["neg_elbo"]
    grey = run_here("evaluate", str(run), "--k", "5", "-n", "50", "--binarize", "none", "--no-progress",
                   "--out", str(tmp_path / "grey"))
    assert "not binarized" in json.loads((tmp_path / "grey" / "eval.json").read_text())["elbo"]["protocol"]
    assert grey.returncode == 0
    # another data set's test split under the same model: Fashion-MNIST is far less likely
    run_here("evaluate", str(run), "--data", "fashion-mnist", "--k", "5", "-n", "100", "--no-progress",
            "--out", str(tmp_path / "ood"))
    ood = json.loads((tmp_path / "ood" / "eval.json").read_text())
    assert "fashion-mnist" in ood["split"] and ood["likelihood"]["nll"] > lik["nll"] + 100


def test_iwae_flags_are_checked_before_any_work(tmp_path):
    for args, flag in ((["--objective", "iwae", "--model", "ae"], "--model: expected a variational model"),
                       (["--objective", "iwae", "--loss", "mse"], "--loss: expected the Bernoulli"),
                       (["--binarize", "sometimes"], "--binarize"),
                       (["--preset", "nope"], "--preset"),
                       (["--activation", "gelu"], "--activation")):
        code, _, err = run_main("train", "--epochs", "1", "--out", str(tmp_path / "x"), *args)
        assert code == 2 and flag in err, (args, err)
    assert not (tmp_path / "x").exists()


def test_the_fused_pass_is_compiled_for_each_shape_not_reused_from_a_tiny_one():
    # a kernel compiled for symbolic sizes kept the choices made for the first sizes it saw
    # (one thread for a test's tiny tensors) and ran MNIST's through them at half speed
    from torch._dynamo.utils import counters

    x_small, x_big = (torch.rand(4, 10) > 0.5).float(), (torch.rand(50, 784) > 0.5).float()
    bernoulli_log_lik(torch.randn(3, 4, 10).bfloat16(), x_small, fused=True)
    before = counters["stats"]["unique_graphs"]
    big = torch.randn(20, 50, 784).bfloat16()
    got = bernoulli_log_lik(big, x_big, fused=True)
    assert counters["stats"]["unique_graphs"] == before + 1  # its own graph, for its own shape
    assert torch.allclose(got, bernoulli_log_lik(big.float(), x_big), atol=1e-3)
