"""A plugin as a user would write one (``VAEKIT_PLUGINS=vaekit_test_entries``): a parameterised
objective and a backbone with a knob, each its function, its settings and one registration."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from vaekit.models import BACKBONES
from vaekit.models.backbones import MLPDecoder, MLPEncoder
from vaekit.objectives import OBJECTIVES, Objective, kl_term
from vaekit.objectives.losses import reconstruction_sum
from vaekit.settings import int_in, owns, setting, weight


@dataclass
class ScaledSettings:
    recon_scale: float = weight(2.0, "Weight of the reconstruction term.")


def scaled(model, batch, s) -> dict:
    """recon_scale * recon + beta * KL."""
    logits, q, z = model(batch.x, batch.y, samples=s.k)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / (s.k * n)
    kl = kl_term(model, q, z).sum() / n
    return {"loss": s.recon_scale * recon + s.beta * kl, "recon": recon.detach(), "kl": kl.detach()}


@dataclass
class WideSettings:
    width_factor: int = setting(2, "Multiplier of every --hidden width.", check=int_in(1, 8),
                                expected="an integer from 1 to 8")


@owns(WideSettings)
def wide(cfg) -> tuple[nn.Module, nn.Module]:
    """An MLP whose layers are --width-factor times the --hidden widths."""
    hidden = [h * cfg.width_factor for h in cfg.hidden]
    return (MLPEncoder(cfg.image_shape, hidden, cfg.activation),
            MLPDecoder(cfg.image_shape, hidden, cfg.latent_dim + cfg.num_classes, cfg.activation))


OBJECTIVES["scaled"] = Objective(scaled, settings=ScaledSettings, about="recon_scale * recon + beta * KL")
BACKBONES["wide"] = wide
