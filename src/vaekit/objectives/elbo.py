"""The ELBO and its variations (KL schedules, free bits, capacity), and the importance-weighted
bound."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaekit.objectives.losses import reconstruction, reconstruction_sum
from vaekit.objectives.objective import Batch, Objective, kl_term, variational
from vaekit.registry import OBJECTIVES
from vaekit.settings import int_in, non_negative, setting

KL_SCHEDULES = ("constant", "linear", "cyclical")


def kl_factor(schedule: str, progress: float, warmup: float, cycles: int) -> float:
    """The KL weight's share of ``--beta`` at ``progress`` (0 -> 1 over training).

    constant: 1. linear: 0 -> 1 over the first ``warmup`` of training, then 1 (Bowman et al.
    2016). cyclical: ``cycles`` cycles, each rising 0 -> 1 over its first ``warmup`` share and
    then held at 1 (Fu et al. 2019, who use 4 cycles and half of each cycle).
    """
    if schedule == "constant":
        return 1.0
    if schedule == "cyclical":
        progress = (progress * cycles) % 1.0 if progress < 1.0 else 1.0
    return min(1.0, progress / warmup) if warmup > 0 else 1.0


def elbo(model, batch: Batch, s) -> dict:
    """Negative ELBO with a weighted KL: recon + beta * KL per image (Kingma & Welling 2014;
    beta != 1 is Higgins et al. 2017's beta-VAE). Recon is averaged over ``s.k`` codes per image
    and summed over pixels in float32 even under mixed precision.

    The KL penalty can follow the usual variations (the reported ``kl`` stays the true KL):
    a schedule on beta (``kl_factor``); free bits, each latent dimension's batch-mean KL counted
    as at least ``s.free_bits`` nats so that dimensions are not pushed below it (Kingma et al.
    2016); a capacity, beta * |KL - C| with C rising linearly from 0 to ``s.capacity`` nats over
    training (Burgess et al. 2018).
    """
    logits, q, z = model(batch.x, batch.y, samples=s.k)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / (s.k * n)
    kl = kl_term(model, q, z).sum() / n
    penalty = kl
    per_dim = q.kl_per_dim() if s.free_bits > 0 else None
    if per_dim is not None:
        penalty = per_dim.mean(0).clamp(min=s.free_bits).sum()
    if s.capacity > 0:
        penalty = (penalty - s.capacity * batch.progress).abs()
    weight = s.beta if s.kl_schedule == "constant" else \
        s.beta * kl_factor(s.kl_schedule, batch.progress, s.kl_warmup, s.kl_cycles)
    return {"loss": recon + weight * penalty, "recon": recon.detach(), "kl": kl.detach()}


def iwae(model, batch: Batch, s) -> dict:
    """Minus the importance-weighted bound of Burda et al. (2016) with ``s.k`` samples,
    log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), averaged over images (k = 1 is the ELBO).
    The ELBO's recon and KL are reported beside it."""
    logits, q, z = model(batch.x, batch.y, samples=s.k)
    recon_each = reconstruction(logits.float(), batch.target, s.loss)  # (k, B)
    z = z.float()
    log_w = -recon_each + model.prior.log_prob(z) - q.log_prob(z)  # (k, B) log importance weights
    bound = torch.logsumexp(log_w, 0) - math.log(s.k)
    n = len(batch)
    return {"loss": -bound.mean(), "recon": recon_each.detach().sum() / (s.k * n),
            "kl": kl_term(model, q, z).detach().sum() / n}


@dataclass
class ElboSettings:
    """The elbo objective's variations of the KL term."""

    kl_schedule: str = setting("constant", "How the KL weight (--beta) moves over training: constant, "
                               "linear (warm-up) or cyclical (annealing cycles).", choices=KL_SCHEDULES)
    kl_warmup: float = setting(0.25, "linear: share of training over which the KL weight rises from 0; "
                               "cyclical: share of each cycle.", check=lambda v: 0 < v <= 1,
                               expected="a fraction in (0, 1]")
    kl_cycles: int = setting(4, "cyclical: number of cycles.", check=int_in(1), expected="an integer >= 1")
    free_bits: float = setting(0.0, "Nats of KL each latent dimension keeps free of penalty (0: off).",
                               check=non_negative, expected="a number >= 0")
    capacity: float = setting(0.0, "Controlled capacity: penalise |KL - C| with C rising to this many nats "
                              "over training (0: off).", check=non_negative, expected="a number >= 0")


OBJECTIVES["elbo"] = Objective(
    elbo, settings=ElboSettings,
    about="negative ELBO, recon + beta * KL (Kingma & Welling 2014; beta-VAE: Higgins et al. 2017), with KL "
          "warm-up / cyclical schedules (Bowman et al. 2016; Fu et al. 2019), free bits (Kingma et al. 2016) "
          "and controlled capacity (Burgess et al. 2018)")
OBJECTIVES["iwae"] = Objective(
    iwae, rules=lambda s: [variational(s), (s.loss == "bce", "loss", "the Bernoulli likelihood bce", s.loss),
                           (s.beta == 1.0, "beta", "1", s.beta)],
    about="importance-weighted bound with k samples (Burda et al. 2016)")
