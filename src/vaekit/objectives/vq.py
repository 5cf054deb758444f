"""The VQ-VAE's objective (van den Oord et al. 2017); the quantizer is vaekit.models.vq."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.objectives.losses import reconstruction_sum
from vaekit.objectives.objective import Batch, Objective, one_code
from vaekit.registry import OBJECTIVES
from vaekit.settings import weight


def vq(model, batch: Batch, s) -> dict:
    """The VQ-VAE objective (van den Oord et al. 2017): recon + commitment * |z_e - sg(z_q)|^2
    per image. The codebook itself moves by exponential moving averages in the forward pass
    (``models.vq.Quantizer``), so no codebook term is needed; ``perplexity`` is exp of the
    entropy of the batch's code usage, the number of entries effectively in use."""
    logits, q, _ = model(batch.x, batch.y, samples=1)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / n
    commitment = q.commitment.sum() / n
    counts = torch.bincount(q.indices.flatten(), minlength=model.prior.codebook_size).float()
    share = counts / counts.sum()
    perplexity = torch.exp(-(share * torch.log(share.clamp(min=1e-10))).sum())
    return {"loss": recon + s.commitment * commitment, "recon": recon.detach(),
            "commitment": commitment.detach(), "perplexity": perplexity}


@dataclass
class VQSettings:
    # 0.25: van den Oord et al. (2017) found results robust from 0.1 to 2.0
    commitment: float = weight(0.25, "Weight of the commitment cost |z_e - sg(z_q)|^2.")


OBJECTIVES["vq"] = Objective(
    vq, rules=lambda s: [(s.model == "vqvae", "model", "vqvae", s.model), one_code(s)],
    settings=VQSettings,
    about="recon + commitment * |z_e - sg(z_q)|^2, codebook by EMA: VQ-VAE (van den Oord et al. 2017)")
