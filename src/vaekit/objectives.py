"""Training objectives, as a registry: each is one function plus its validity rules.

An objective maps ``(model, batch, settings)`` to a dict of named terms. Every term is a scalar,
the mean over the batch's images; ``"loss"`` is the one minimised (it carries gradients), the
others are reported. The trainer, validation, ``metrics.csv``, ``summary.json``, the progress bar
and ``vaekit evaluate`` show whatever terms come back, so a new objective needs nothing beyond

    def my_objective(model, batch, s):
        logits, q, z = model(batch.x, batch.y, samples=s.k)
        recon = reconstruction_sum(logits[0].float(), batch.target, s.loss) / len(batch.target)
        return {"loss": recon + ..., "recon": recon, ...}

    OBJECTIVES["mine"] = Objective(my_objective, about="...")

``settings`` is the run's ``TrainConfig`` (``loss``, ``beta``, ``k`` and the rest). ``rules``
receives it too and returns (ok, setting, expected, found) tuples, checked before any work.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from vaekit.config import int_in, non_negative, setting, weight
from vaekit.losses import reconstruction, reconstruction_sum
from vaekit.mmd import KERNELS, mmd2

KL_SCHEDULES = ("constant", "linear", "cyclical")


@dataclass
class Batch:
    """One step's images. x: (B, C, H, W) what the encoder sees (corrupted when denoising);
    target: (B, C, H, W) what the decoder should give back; y: (B,) labels for a conditional model."""

    x: torch.Tensor
    target: torch.Tensor
    y: torch.Tensor | None = None
    # how far training has got, in [0, 1] (1 for evaluation): what KL schedules follow
    progress: float = 1.0
    # images in the set the batch is drawn from (0: unknown, taken as the batch's own size):
    # what estimates of the aggregate posterior q(z) weigh a batch by
    dataset_size: int = 0

    def __len__(self) -> int:
        return self.target.shape[0]


@dataclass(frozen=True)
class Objective:
    """A registered objective: the function, its rules on the settings, and one line about it."""

    fn: Callable[..., dict]
    rules: Callable[..., list] = lambda s: []
    about: str = ""
    settings: type | None = None  # a dataclass of this objective's own settings (see vaekit.config)

    def check(self, settings, name: str) -> None:
        """Raise SettingError for the first rule ``settings`` break."""
        from vaekit.errors import SettingError

        for ok, name_, expected, found in self.rules(settings):
            if not ok:
                raise SettingError(name_, f"{expected} for the {name} objective", found)


def kl_term(model, q, z: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || p(z)) per image (B,) in float32: closed form where the prior has one, else the
    Monte-Carlo estimate log q(z|x) - log p(z) averaged over the S codes z (S, B, D)."""
    kl = q.kl()
    if kl is None:
        z = z.float()
        kl = (q.log_prob(z) - model.prior.log_prob(z)).mean(0)
    return kl.float()


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


def mmd(model, batch: Batch, s) -> dict:
    """recon + beta * KL + mmd_weight * MMD^2(q(z), p(z)): the codes of the batch, as a sample
    of the aggregate posterior, pulled towards prior draws through a kernel (``s.mmd_kernel``).

    With ``--beta 0`` this is the MMD-VAE (InfoVAE with alpha = 1; Zhao, Song & Ermon 2019) or,
    with an AE or squared-error reconstruction, WAE-MMD (Tolstikhin et al. 2018). InfoVAE's
    general (alpha, lambda) is ``--beta 1-alpha --mmd-weight alpha+lambda-1``. Works for
    deterministic encoders too (an AE's KL is 0).
    """
    logits, q, z = model(batch.x, batch.y, samples=1)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / n
    kl = kl_term(model, q, z).sum() / n
    codes = z[0].float()
    drawn = model.prior.sample(n, device=codes.device).float()
    divergence = mmd2(codes, drawn, s.mmd_kernel)
    loss = recon + s.beta * kl + s.mmd_weight * divergence
    return {"loss": loss, "recon": recon.detach(), "kl": kl.detach(), "mmd": divergence.detach()}


def tcvae(model, batch: Batch, s) -> dict:
    """The beta-TCVAE of Chen et al. (2018): recon + beta * (index-code MI + dimension-wise KL)
    + tc_weight * total correlation, the KL's three parts estimated on the batch by minibatch-
    weighted sampling (``vaekit.tc``); a heavier total-correlation weight pushes the aggregate
    posterior towards independent dimensions (disentanglement). Any prior with a log density."""
    from vaekit.tc import kl_decomposition

    logits, q, z = model(batch.x, batch.y, samples=1)
    n = len(batch)
    recon = reconstruction_sum(logits.float(), batch.target, s.loss) / n
    codes = z[0].float()
    parts = kl_decomposition(codes, q.mean.float(), q.logvar.float(), batch.dataset_size or n,
                             model.prior.log_prob(codes).float())
    loss = recon + s.beta * (parts["mi"] + parts["dwkl"]) + s.tc_weight * parts["tc"]
    return {"loss": loss, "recon": recon.detach(), "kl": kl_term(model, q, z).detach().sum() / n,
            **{name: v.detach() for name, v in parts.items()}}


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


@dataclass
class TCVAESettings:
    # 6: the weight Chen et al. (2018) report disentangling best with on dSprites
    tc_weight: float = weight(6.0, "Weight of the total-correlation term (beta-TCVAE).")


@dataclass
class RAESettings:
    decoder_l2: float = weight(1e-4, "Weight of the decoder's squared weights (RAE-L2).")


@dataclass
class VQSettings:
    # 0.25: van den Oord et al. (2017) found results robust from 0.1 to 2.0
    commitment: float = weight(0.25, "Weight of the commitment cost |z_e - sg(z_q)|^2.")


@dataclass
class MMDSettings:
    # 1000: on MNIST (latent 16, 5 epochs, beta 0) prior samples reached Frechet distance 147.5
    # against 166.3 at 100 and 172.1 for the ELBO (one seed; `vaekit evaluate`)
    mmd_weight: float = weight(1000.0, "Weight of the MMD term (per image, beside a reconstruction summed "
                               "over pixels).")
    mmd_kernel: str = setting("imq", "Kernel of the MMD.", choices=lambda: KERNELS)


def _variational(s) -> tuple:
    from vaekit.models import MODELS, POSTERIORS

    kind = MODELS.get(s.model)
    return (kind is None or POSTERIORS[kind.posterior].variational, "model",
            "a variational model (vae or cvae)", s.model)


OBJECTIVES: dict[str, Objective] = {
    "elbo": Objective(elbo, settings=ElboSettings,
                      about="negative ELBO, recon + beta * KL (Kingma & Welling 2014; beta-VAE: Higgins "
                            "et al. 2017), with KL warm-up / cyclical schedules (Bowman et al. 2016; Fu et "
                            "al. 2019), free bits (Kingma et al. 2016) and controlled capacity (Burgess et "
                            "al. 2018)"),
    "iwae": Objective(iwae, rules=lambda s: [
        _variational(s),
        (s.loss == "bce", "loss", "the Bernoulli likelihood bce", s.loss),
        (s.beta == 1.0, "beta", "1", s.beta),
    ], about="importance-weighted bound with k samples (Burda et al. 2016)"),
    "tcvae": Objective(tcvae, rules=lambda s: [_variational(s), (s.k == 1, "k", "1", s.k)],
                       settings=TCVAESettings,
                       about="recon + beta * (MI + dimension-wise KL) + tc_weight * total correlation: "
                             "beta-TCVAE (Chen et al. 2018)"),
    "rae": Objective(rae, rules=lambda s: [
        (not _variational(s)[0], "model", "a deterministic model (ae)", s.model),
        (s.k == 1, "k", "1", s.k),
    ], settings=RAESettings,
        about="recon + beta * |z|^2 / 2 + decoder_l2 * |decoder weights|^2: the regularised "
              "deterministic AE, RAE-L2 (Ghosh et al. 2020); sample it with --sampler gmm"),
    "vq": Objective(vq, rules=lambda s: [(s.model == "vqvae", "model", "vqvae", s.model),
                                         (s.k == 1, "k", "1", s.k)],
                    settings=VQSettings,
                    about="recon + commitment * |z_e - sg(z_q)|^2, codebook by EMA: VQ-VAE (van den Oord "
                          "et al. 2017)"),
    # against a learnt prior (vamp) the MMD would chase a target that chases the codes back
    "mmd": Objective(mmd, rules=lambda s: [(s.k == 1, "k", "1", s.k),
                                           (s.prior == "normal", "prior", "normal", s.prior)],
                     settings=MMDSettings,
                     about="recon + beta * KL + mmd_weight * MMD(q(z), p(z)): MMD-VAE / InfoVAE "
                           "(Zhao et al. 2019) with --beta 0, WAE-MMD (Tolstikhin et al. 2018)"),
}


def add_terms(sums: dict[str, torch.Tensor] | None, terms: dict, n: int) -> dict[str, torch.Tensor]:
    """Fold one batch's mean terms into running float64 sums, weighted by its ``n`` images;
    ``"count"`` counts the images. Stays on the terms' device: no sync with the CPU."""
    if sums is None:
        sums = {name: torch.zeros((), dtype=torch.float64, device=v.device) for name, v in terms.items()}
        sums["count"] = torch.zeros((), dtype=torch.float64, device=next(iter(terms.values())).device)
    for name, v in terms.items():
        sums[name] += v.detach().double() * n
    sums["count"] += n
    return sums


def means(sums: dict[str, torch.Tensor]) -> dict[str, float]:
    """Running sums -> per-image means of every term (``count`` left out)."""
    n = max(float(sums["count"]), 1.0)
    return {name: float(v) / n for name, v in sums.items() if name != "count"}


@torch.no_grad()
def set_terms(model, images, positions: torch.Tensor, settings, batch_size: int, device: torch.device,
              seed: int, corrupt=None, objective: str | None = None) -> dict[str, torch.Tensor]:
    """The objective's terms summed over ``images[positions]`` (an ImageSet), in eval mode.

    Returns running sums (see ``add_terms``) on ``device``, so several processes can add their
    shards before dividing. The random draws (codes, and the corruption of a denoising run) come
    from a generator seeded with ``seed``, in a forked RNG, so the result is reproducible and
    the caller's random state is left as it was.
    """
    from vaekit.datasets import to_float

    fn = OBJECTIVES[objective or settings.objective].fn
    forked = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
    sums = None
    with forked if device.type in ("cpu", "cuda") else nullcontext():
        torch.manual_seed(seed)
        for s in range(0, len(positions), batch_size):
            idx = positions[s : s + batch_size]
            target = to_float(images.take(idx)).to(device)
            y = images.take_labels(idx).to(device) if model.conditional else None
            batch = Batch(corrupt(target) if corrupt else target, target, y, dataset_size=len(images))
            sums = add_terms(sums, fn(model, batch, settings), len(batch))
    if sums is None:  # no images in this shard: zeros of the objective's terms
        probe = images.take(torch.arange(min(1, len(images))))
        return add_terms(None, fn(model, Batch(*(2 * [to_float(probe).to(device)]),
                                               images.take_labels(torch.arange(1)).to(device)
                                               if model.conditional else None), settings), 0)
    return sums
