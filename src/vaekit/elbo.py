"""Loss terms over a whole image set, batched, with the randomness passed in."""

from __future__ import annotations

import torch

from vaekit.datasets import ImageSet, to_float
from vaekit.losses import reconstruction


@torch.no_grad()
def elbo_sums(model, images: ImageSet, positions: torch.Tensor, loss: str, batch_size: int,
              device: torch.device, generator: torch.Generator | None = None,
              corrupt=None) -> torch.Tensor:
    """Sums of per-image reconstruction and KL over ``images[positions]``, one z draw per image.

    Returns a (3,) float64 tensor on ``device``: [recon_sum, kl_sum, count]. Summing (rather than
    averaging) lets several processes add their shards before dividing. The model should be in
    eval mode; z ~ q(z|x) is drawn with ``generator`` so the result is reproducible. With
    ``corrupt`` (a denoising run's corruption) the model encodes corrupted images, drawn with the
    same generator, and is scored against the clean ones.
    """
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for s in range(0, len(positions), batch_size):
        idx = positions[s : s + batch_size]
        x = to_float(images.take(idx)).to(device)
        y = images.take_labels(idx).to(device) if getattr(model, "conditional", False) else None
        q = model.encode(corrupt(x, generator) if corrupt else x, y)
        logits = model.decode_logits(q.sample(generator), y)
        sums[0] += reconstruction(logits, x, loss).double().sum()
        sums[1] += q.kl().double().sum()
        sums[2] += x.shape[0]
    return sums


def per_image(sums: torch.Tensor, beta: float = 1.0) -> dict[str, float]:
    """[recon_sum, kl_sum, count] -> {"loss", "recon", "kl"} per image; loss = recon + beta*KL."""
    recon, kl, n = (float(v) for v in sums)
    n = max(n, 1.0)
    return {"loss": (recon + beta * kl) / n, "recon": recon / n, "kl": kl / n}
