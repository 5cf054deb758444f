"""DIP-VAE (Kumar, Sattigeri & Balakrishnan 2018): the ELBO plus a penalty pulling the covariance
of the codes towards the identity, so that the aggregate posterior's dimensions decorrelate.

DIP-VAE-I matches the covariance of the posterior means, Cov[mu(x)]; DIP-VAE-II that of the
aggregate posterior, Cov[mu(x)] + E[Sigma(x)]. The penalty is lambda_od times the squared
off-diagonal entries plus lambda_d times the squared distance of the diagonal from 1, on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.objectives.losses import reconstruction_sum
from vaekit.objectives.objective import Batch, Objective, kl_term, one_code, variational
from vaekit.registry import OBJECTIVES
from vaekit.settings import non_negative, setting, weight


@dataclass
class DIPSettings:
    dip_type: str = setting("ii", "Which covariance is pulled to the identity: i (of the posterior means) or "
                            "ii (of the aggregate posterior).", choices=("i", "ii"))
    # Kumar et al. and disentanglement_lib: lambda_od from 1 to 50, lambda_d = 10 lambda_od for
    # DIP-VAE-I and = lambda_od for DIP-VAE-II
    dip_od: float = weight(10.0, "Weight of the off-diagonal covariance entries (lambda_od).")
    dip_d: float | None = setting(None, "Weight of the diagonal's distance from 1 (lambda_d; default: 10 x "
                                  "--dip-od for type i, --dip-od for type ii).",
                                  check=lambda v: v is None or non_negative(v), expected="a number >= 0")


def dip(model, batch: Batch, s) -> dict:
    """recon + beta * KL + the DIP penalty on the batch's codes (reported as ``dip``)."""
    logits, q, z = model(batch.x, batch.y, samples=1)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / n
    kl = kl_term(model, q, z).sum() / n
    mean = q.mean.float()  # (B, D)
    centred = mean - mean.mean(0)
    cov = centred.T @ centred / n  # (D, D): Cov[mu(x)] over the batch
    if s.dip_type == "ii":
        cov = cov + torch.diag(q.logvar.float().exp().mean(0))  # + E[Sigma(x)]
    diag = torch.diagonal(cov)
    lambda_d = s.dip_d if s.dip_d is not None else (10.0 if s.dip_type == "i" else 1.0) * s.dip_od
    penalty = s.dip_od * (cov - torch.diag(diag)).pow(2).sum() + lambda_d * (diag - 1).pow(2).sum()
    return {"loss": recon + s.beta * kl + penalty, "recon": recon.detach(), "kl": kl.detach(),
            "dip": penalty.detach()}


OBJECTIVES["dip"] = Objective(
    dip, rules=lambda s: [variational(s), one_code(s)], settings=DIPSettings,
    about="recon + beta * KL + lambda_od * off-diagonal^2 + lambda_d * (diagonal - 1)^2 of the codes' "
          "covariance: DIP-VAE-I/II (Kumar et al. 2018)")
