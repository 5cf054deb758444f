"""The two-stage VAE sampler of Dai & Wipf (2019), "Diagnosing and Enhancing VAE Models".

A VAE's aggregate posterior q(z) rarely matches its prior N(0, I), so decoded prior draws land
where no training code lies. Stage two fits a second, small VAE to the codes themselves (an MLP
on D-dimensional vectors, with a learnt output variance gamma, as in the paper), whose own prior
does match its codes; sampling is u ~ N(0, I) -> stage-two decoder, plus its learnt noise -> z ->
the run's decoder.

Fitted once per run on its training codes (draws from q(z|x), so the second stage sees the
spread the first one has) and cached in the run folder as ``two_stage.safetensors``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.models.posterior import DiagonalGaussian, gaussian_log_density
from vaekit.run.layout import TWO_STAGE

HIDDEN = 512
STEPS = 4000  # at most: 30 passes over the codes, and at least 2000 steps for small sets
BATCH = 256


class CodeVAE(nn.Module):
    """A VAE over codes (N, D): MLP encoder and decoder with ``hidden`` units, latent size D,
    and a Gaussian likelihood whose variance gamma is learnt (Dai & Wipf's stage two)."""

    def __init__(self, dim: int, hidden: int = HIDDEN):
        super().__init__()
        self.dim = dim
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * dim))
        self.decoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, dim))
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def loss(self, z: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per code, averaged: Gaussian likelihood with variance gamma + KL."""
        q = DiagonalGaussian(*self.encoder(z).chunk(2, dim=1))  # against N(0, I)
        recon = -gaussian_log_density(z, self.decoder(q.sample()), self.log_gamma).sum(1)
        return (recon + q.kl()).mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (n, D) for the first stage's decoder: decoded N(0, I) draws plus the learnt
        noise, sqrt(gamma) * N(0, I): stage two's own density.

        Dai & Wipf decode the means alone, since gamma goes to 0 when the codes lie on a manifold.
        A code whose dimensions are mostly noise the first decoder ignores keeps gamma near 1, and
        stage two then explains the codes by that noise, its means nearly constant: on ORL at
        64x64 (latent 64, MSE) the means alone decoded 400 copies of one face, an identity-feature
        Fréchet distance of 18,491 against 982 with the noise (N(0, I) draws: 882).
        """
        mean = self.decoder(torch.randn((n, self.dim), generator=generator))
        return mean + self.log_gamma.mul(0.5).exp() * torch.randn(mean.shape, generator=generator)


def fit_code_vae(mean: torch.Tensor, std: torch.Tensor, seed: int = 0, steps: int = STEPS,
                 hidden: int = HIDDEN) -> CodeVAE:
    """Fit stage two to codes drawn from N(mean, std^2) row by row (mean, std: (N, D)), a fresh
    draw for every batch; Adam, learning rate 1e-3 halved over the last half of the steps."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CodeVAE(mean.shape[1], hidden)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            idx = torch.randint(len(mean), (min(BATCH, len(mean)),), generator=gen)
            z = mean[idx] + std[idx] * torch.randn((len(idx), mean.shape[1]), generator=gen)
            loss = net.loss(z)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


def two_stage(run, seed: int = 0) -> CodeVAE:
    """The run's stage-two model: loaded from its cache, else fitted to its training codes."""
    from safetensors.torch import load_file, save_file

    from vaekit.files import atomic_write
    from vaekit.models.inference import encode_spread

    path = run.path / TWO_STAGE
    net = CodeVAE(run.model.latent_dim)
    if path.is_file():
        try:
            net.load_state_dict(load_file(str(path)))
            return net.eval()
        except Exception:  # noqa: BLE001 -- a damaged or outdated cache is refitted below
            pass
    mean, std = encode_spread(run.model, run.splits.train)
    # 500 steps left ORL's 320 codes (sharp objective) with gamma at 0.74 and its samples' distance
    # 14% above 4000 steps'
    steps = min(STEPS, max(2000, 30 * math.ceil(len(mean) / BATCH)))
    net = fit_code_vae(mean.float(), std.float(), seed, steps=steps)
    atomic_write(path, lambda p: save_file(net.state_dict(), str(p)))
    return net


def two_stage_codes(run, n: int, seed: int = 0) -> torch.Tensor:
    """Draws from a second VAE fitted to the training codes (Dai & Wipf 2019's two-stage VAE).

    ``n`` codes (n, D); stage two is fitted once per run and cached (``two_stage.safetensors``)."""
    return two_stage(run, seed).sample(n, torch.Generator().manual_seed(seed))
