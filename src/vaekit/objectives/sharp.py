"""Sharp reconstructions without downloaded weights: the ELBO's reconstruction term (use --loss l1)
plus the focal frequency loss, the gradients' amplitude spectra, MS-SSIM, and a PatchGAN
adversarial term.

A Gaussian or Laplace likelihood averages the details a code cannot pin down, so a VAE's faces
come out blurred. The latent-diffusion autoencoder (Rombach et al. 2022) sharpens them with a
learned perceptual distance (LPIPS on VGG weights, which this toolkit cannot download) and a
patch discriminator; here the perceptual part is replaced by terms that need no weights: the
focal frequency loss (Jiang et al. 2021) weighs the spectrum's worst-matched frequencies up, the
gradients' amplitude spectra ask for detail of the originals' strength wherever it lands (phases
left out), and MS-SSIM (Wang et al. 2003) compares local structure at several scales. The
adversarial term is theirs: a PatchGAN (Isola et al. 2017) with the hinge loss, switched on after
a warm-up, its weight set each step so that its gradient at the decoder's last layer is
``adversarial_weight`` times the reconstruction terms' (Esser et al. 2021, eq. 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.objectives.detail import focal_frequency, gradient_spectrum, ms_ssim
from vaekit.objectives.losses import reconstruction_sum
from vaekit.objectives.objective import Batch, Objective, kl_term, one_code, trained_beside, variational
from vaekit.registry import OBJECTIVES
from vaekit.settings import int_in, setting, weight

if TYPE_CHECKING:
    from vaekit.objectives.objective import OwnNetwork


@dataclass
class SharpSettings:
    frequency_weight: float = weight(1.0, "Weight of the focal frequency loss (its sum over frequencies "
                                     "is on the scale of the summed squared error).")
    spectrum_weight: float = weight(40.0, "Weight of the squared distance of the gradients' amplitude "
                                    "spectra (phases left out: detail of the originals' strength, "
                                    "wherever it lands).")
    ssim_weight: float = weight(0.84, "Weight of 1 - MS-SSIM, counted once per pixel like the summed "
                                "reconstruction term.")
    # off by default: on ORL it doubles a step's time for a little more high-frequency detail, and
    # at 0.5 (the latent-diffusion autoencoder's) it draws grid artifacts (benchmarks/faces.py)
    adversarial_weight: float = weight(0.0, "Weight of the PatchGAN term relative to the reconstruction "
                                       "terms (its gradient norm at the decoder's last layer; 0: off).")
    adversarial_start: float = setting(0.5, "Share of training before the discriminator and its term start.",
                                       check=lambda v: isinstance(v, (int, float)) and 0 <= v < 1,
                                       expected="a fraction in [0, 1)")
    patch_lr: float = setting(2e-4, "Learning rate of the PatchGAN discriminator (Adam, betas 0.5, 0.9).",
                              check=lambda v: isinstance(v, (int, float)) and 0 < v < 1,
                              expected="a number in (0, 1)")
    patch_width: int = setting(32, "Channels of the discriminator's first layer (doubled per layer, at most "
                               "8x).", check=int_in(1, 1024), expected="an integer from 1 to 1024")
    patch_layers: int = setting(3, "Stride-2 layers of the discriminator (fewer on images too small for "
                                "them): 3 judges 70x70-pixel patches.", check=int_in(1, 6),
                                expected="an integer from 1 to 6")


class PatchDiscriminator(nn.Module):
    """Images (B, C, H, W) in [0, 1] -> real/fake logits (B, 1, h, w), one per overlapping patch.

    Isola et al.'s PatchGAN: 4x4 convolutions with leaky ReLU, ``layers`` of them of stride 2 and
    widths doubling from ``width``, then two of stride 1. No batch norm, so that real and fake
    images judged together do not share statistics and validation leaves nothing changed.
    """

    def __init__(self, channels: int, side: int, width: int = 64, layers: int = 3):
        super().__init__()
        # each stride-2 layer halves the side and the two last convolutions take 1 each: keep >= 1
        layers = max(1, min(layers, int(math.log2(max(side / 3, 2)))))
        widths = [width * min(2 ** i, 8) for i in range(layers + 1)]
        seq: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, layers + 1):
            seq += [nn.Conv2d(widths[i - 1], widths[i], 4, 2 if i < layers else 1, 1), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*seq, nn.Conv2d(widths[-1], 1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(2 * x - 1)


def last_layer(model) -> torch.Tensor:
    """The weight of the decoder's last layer: where the adaptive weight compares gradients."""
    weights = [p for name, p in model.named_parameters() if "decoder." in name and p.dim() > 1]
    return weights[-1]


def adaptive_weight(rec: torch.Tensor, adversarial: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
    """|d rec / d layer| / |d adversarial / d layer|, clamped to [0, 1e4] and detached (Esser et
    al. 2021): the adversarial term's pull on the decoder is kept in proportion to the
    reconstruction's, whatever their scales."""
    g_rec = torch.autograd.grad(rec, layer, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adversarial, layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0, 1e4).detach()


def sharp(model, batch: Batch, s, discriminator: OwnNetwork) -> dict:
    """recon (``s.loss``) + frequency_weight * FFL + spectrum_weight * the gradients' amplitude
    spectra's distance + ssim_weight * pixels * (1 - MS-SSIM) + beta * KL
    + the adaptive adversarial term once ``batch.progress`` reaches ``adversarial_start``.

    ``discriminator`` is the PatchGAN's hinge loss on the batch against its reconstructions
    (detached: it trains the discriminator only). Before the warm-up ends neither runs, and the
    term has no gradient, so the trainer leaves the discriminator unstepped. Without gradients
    (validation, test) the adversarial term is reported but left out of the loss: its weight is
    measured with gradients.
    """
    logits, q, z = model(batch.x, batch.y, samples=1)
    n = len(batch)
    logits = logits[0].float()
    recon = reconstruction_sum(logits, batch.target, s.loss) / n
    pred = torch.sigmoid(logits)
    rec = recon
    terms = {}
    if s.frequency_weight > 0:
        terms["frequency"] = focal_frequency(pred, batch.target).mean()
        rec = rec + s.frequency_weight * terms["frequency"]
    if s.spectrum_weight > 0:
        terms["spectrum"] = gradient_spectrum(pred, batch.target).mean()
        rec = rec + s.spectrum_weight * terms["spectrum"]
    if s.ssim_weight > 0:
        terms["ms_ssim"] = ms_ssim(pred, batch.target).mean()
        rec = rec + s.ssim_weight * pred[0].numel() * (1 - terms["ms_ssim"])
    kl = kl_term(model, q, z).sum() / n
    loss = rec + s.beta * kl
    zero = torch.zeros((), device=pred.device)
    adversarial, critic = zero, zero
    if s.adversarial_weight > 0 and batch.progress >= s.adversarial_start:
        adversarial = -discriminator.fixed(pred).float().mean()  # the generator's hinge term
        if torch.is_grad_enabled():
            balance = adaptive_weight(rec, adversarial, last_layer(model))
            loss = loss + s.adversarial_weight * balance * adversarial
        real_fake = discriminator(torch.cat([batch.target, pred.detach()])).float()
        real, fake = real_fake[:n], real_fake[n:]
        critic = 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
    return {"loss": loss, "recon": recon.detach(), "kl": kl.detach(),
            **{k: v.detach() for k, v in terms.items()}, "adversarial": adversarial.detach(),
            "discriminator": critic}


def patch_discriminator(model, s) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The objective's own network and its optimizer, for images of the model's shape."""
    c, h, w = model.config.image_shape
    return trained_beside(model, PatchDiscriminator(c, min(h, w), s.patch_width, s.patch_layers), s.patch_lr)


OBJECTIVES["sharp"] = Objective(
    sharp, rules=lambda s: [variational(s), one_code(s)], settings=SharpSettings,
    network=patch_discriminator, network_loss="discriminator",
    # its tight likelihood leaves about 100 nats of KL, and N(0, I) draws land between the codes:
    # 3.3x further from ORL's faces than MSE's (benchmarks/faces.py); a mixture of its codes, 22% closer
    # than MSE's own mixture and 73% closer than MSE's N(0, I) draws
    sampler="gmm",
    about="recon + focal frequency loss + gradient spectra + MS-SSIM + beta * KL + an adaptive PatchGAN term "
          "after a warm-up: sharp faces without downloaded weights (Jiang et al. 2021; Wang et al. 2003; "
          "Esser et al. 2021)")
