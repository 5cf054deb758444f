"""The KL term split three ways, for the beta-TCVAE (Chen, Li, Grosse & Duvenaud 2018, "Isolating
Sources of Disentanglement in VAEs"):

    E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || prod_d q(z_d)) + sum_d KL(q(z_d) || p(z_d))
                             index-code MI   total correlation (TC)    dimension-wise KL

The aggregate posterior q(z) = (1/N) sum_n q(z|x_n) over a data set of N images is estimated on a
batch of M, stratified as in the paper's appendix: a code's own image enters with weight 1/N, the
batch's M - 1 others stand for the remaining N - 1 images, each with weight (N - 1) / (N (M - 1)).
The estimate is consistent, exact when the batch is the whole set, and correctly normalised, so
the reported parts are in nats (the paper's minibatch-weighted form, log(1/(NM)) sum_j, shifts
the total correlation by (D - 1) log(NM), harmless for gradients but not for the numbers shown).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaekit.models.posterior import gaussian_log_density
from vaekit.objectives.losses import reconstruction_sum
from vaekit.objectives.objective import Batch, Objective, kl_term, one_code, variational
from vaekit.registry import OBJECTIVES
from vaekit.settings import weight


def kl_decomposition(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                     log_prior: torch.Tensor) -> dict[str, torch.Tensor]:
    """Batch means of the three parts for codes z (M, D) drawn from diagonal Gaussians q(z|x_j)
    with ``mean``, ``logvar`` (M, D); ``log_prior``: log p(z_i) (M,). Returns {"mi", "tc", "dwkl"},
    scalars in nats whose sum is the Monte-Carlo KL estimate mean_i log q(z_i|x_i) - log p(z_i).
    """
    m = z.shape[0]
    # log q(z_i,d | x_j) for every pair (i, j) and dimension d: (M, M, D)
    log_q_pairs = gaussian_log_density(z[:, None, :], mean[None], logvar[None])
    n = max(dataset_size, m)
    own, other = -math.log(n), (math.log((n - 1) / (n * (m - 1))) if m > 1 else -math.inf)
    log_w = torch.full((m, m), other, dtype=z.dtype, device=z.device)
    log_w.diagonal().fill_(own)                                            # (M, M) stratified weights
    log_q_given_x = log_q_pairs.diagonal(dim1=0, dim2=1).sum(0)          # (M,): log q(z_i | x_i)
    log_q = torch.logsumexp(log_q_pairs.sum(2) + log_w, 1)                 # (M,): log q(z_i)
    log_prod = torch.logsumexp(log_q_pairs + log_w[..., None], 1).sum(1)   # (M,): sum_d log q(z_i,d)
    return {"mi": (log_q_given_x - log_q).mean(), "tc": (log_q - log_prod).mean(),
            "dwkl": (log_prod - log_prior).mean()}


def tcvae(model, batch: Batch, s) -> dict:
    """The beta-TCVAE of Chen et al. (2018): recon + beta * (index-code MI + dimension-wise KL)
    + tc_weight * total correlation, the KL's three parts estimated on the batch by minibatch-
    weighted sampling (``vaekit.objectives.tcvae``); a heavier total-correlation weight pushes the aggregate
    posterior towards independent dimensions (disentanglement). Any prior with a log density."""
    logits, q, z = model(batch.x, batch.y, samples=1)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / n
    codes = z[0].float()
    parts = kl_decomposition(codes, q.mean.float(), q.logvar.float(), batch.dataset_size or n,
                             model.prior.log_prob(codes).float())
    loss = recon + s.beta * (parts["mi"] + parts["dwkl"]) + s.tc_weight * parts["tc"]
    return {"loss": loss, "recon": recon.detach(), "kl": kl_term(model, q, z).detach().sum() / n,
            **{name: v.detach() for name, v in parts.items()}}


@dataclass
class TCVAESettings:
    # 6: the weight Chen et al. (2018) report disentangling best with on dSprites
    tc_weight: float = weight(6.0, "Weight of the total-correlation term (beta-TCVAE).")


OBJECTIVES["tcvae"] = Objective(
    tcvae, rules=lambda s: [variational(s), one_code(s)], settings=TCVAESettings,
    about="recon + beta * (MI + dimension-wise KL) + tc_weight * total correlation: beta-TCVAE "
          "(Chen et al. 2018)")
