"""The regularised deterministic autoencoder's objective (Ghosh et al. 2020)."""

from __future__ import annotations

from dataclasses import dataclass

from vaekit.objectives.losses import reconstruction_sum
from vaekit.objectives.objective import Batch, Objective, one_code, variational
from vaekit.registry import OBJECTIVES
from vaekit.settings import weight


def rae(model, batch: Batch, s) -> dict:
    """The regularised deterministic autoencoder of Ghosh et al. (2020), RAE-L2: recon + beta *
    ||z||^2 / 2 + decoder_l2 * ||decoder weights||^2. The code penalty keeps codes near the
    origin and the weight penalty keeps the decoder smooth, where a VAE relies on noise for both;
    new images come from a density fitted to the codes afterwards (``--sampler gmm``)."""
    logits, _, z = model(batch.x, batch.y, samples=1)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / n
    code = 0.5 * z[0].float().pow(2).sum() / n
    # the layers' weight matrices and kernels (not biases, not normalisation scales)
    smooth = sum(p.float().pow(2).sum() for p in model.decoder.parameters() if p.dim() > 1)
    loss = recon + s.beta * code + s.decoder_l2 * smooth
    return {"loss": loss, "recon": recon.detach(), "code": code.detach(), "decoder_l2": smooth.detach()}


@dataclass
class RAESettings:
    decoder_l2: float = weight(1e-4, "Weight of the decoder's squared weights (RAE-L2).")


OBJECTIVES["rae"] = Objective(
    rae, rules=lambda s: [(not variational(s)[0], "model", "a deterministic model (ae)", s.model),
                          one_code(s)],
    settings=RAESettings, sampler="gmm",
    about="recon + beta * |z|^2 / 2 + decoder_l2 * |decoder weights|^2: the regularised deterministic AE, "
          "RAE-L2 (Ghosh et al. 2020); sampled with --sampler gmm by default")
