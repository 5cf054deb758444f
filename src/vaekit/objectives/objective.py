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

An objective may own a network trained beside the model (FactorVAE's discriminator): its entry's
``network(model, settings)`` builds that module and its optimizer, the function takes it as a
fourth argument (an ``OwnNetwork``: called, it runs at the model's precision; ``fixed`` holds its
weights constant for the model's term), and the term named ``network_loss`` is what steps it (its
gradient reaching the network alone). The trainer checkpoints both and resumes them exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from vaekit.registry import MODELS, OBJECTIVES, POSTERIORS


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
    settings: type | None = None  # a dataclass of this objective's own settings (see vaekit.settings)
    # a network of its own: (model, settings) -> (module, optimizer), stepped on term network_loss
    network: Callable | None = None
    network_loss: str | None = None
    # the sampler its runs draw new images with unless told (Run.sample, vaekit sample, the page):
    # "gmm" where the codes are not meant to match N(0, I)
    sampler: str = "prior"

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


def variational(s) -> tuple:
    """A rule: the model's codes are random (a VAE, not an AE)."""
    kind = MODELS.get(s.model)
    return (kind is None or POSTERIORS[kind.posterior].variational, "model",
            "a variational model (vae or cvae)", s.model)


def trained_beside(model, net: torch.nn.Module, lr: float) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """An objective's own network on the model's device, with the Adam of adversarial training
    (betas 0.5, 0.9: Kim & Mnih's and the latent-diffusion autoencoder's), as ``network`` returns.
    Torch's fused step where it has one: FactorVAE's 5M discriminator weights took 6.5 ms a step
    with the for-each step and 1.8 with the fused one (2-core AMD EPYC)."""
    device = next(model.parameters()).device
    net = net.to(device)
    return net, torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.9),
                                 fused=device.type in ("cpu", "cuda"))


class OwnNetwork:
    """An objective's own network as its function receives it.

    Called, it runs under ``precision`` (the context the model's forward runs in, so a bf16 run
    does the network's products in bf16 too: FactorVAE's six 1000-wide layers cost more than the
    dlib VAE they judge). ``fixed(x)`` is the model's term: the output with the weights taken as
    constants, so gradients reach ``x`` and no weight gradient is computed that the network's own
    step would throw away.
    """

    def __init__(self, net: torch.nn.Module, precision: Callable = nullcontext):
        self.net, self.precision = net, precision

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with self.precision():
            return self.net(x)

    def fixed(self, x: torch.Tensor) -> torch.Tensor:
        weights = {name: p.detach() for name, p in self.net.named_parameters()}
        with self.precision():
            return torch.func.functional_call(self.net, weights, (x,))


def one_code(s) -> tuple:
    """A rule: one code per image (``--k 1``); only the importance-weighted bound takes more."""
    return (s.k == 1, "k", "1", s.k)


def terms_of(objective: Objective, network=None, precision: Callable = nullcontext) -> Callable[..., dict]:
    """The objective as ``(model, batch, settings) -> terms``, with its own network bound in (run
    under ``precision``, see ``OwnNetwork``)."""
    if objective.network is None:
        return objective.fn
    if network is None:
        raise ValueError("this objective trains a network of its own: pass it")
    own = OwnNetwork(network, precision)
    return lambda model, batch, s: objective.fn(model, batch, s, own)


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
              seed: int, corrupt=None, objective: str | None = None, network=None) -> dict[str, torch.Tensor]:
    """The objective's terms summed over ``images[positions]`` (an ImageSet), in eval mode.

    Returns running sums (see ``add_terms``) on ``device``, so several processes can add their
    shards before dividing. The random draws (codes, and the corruption of a denoising run) come
    from a generator seeded with ``seed``, in a forked RNG, so the result is reproducible and
    the caller's random state is left as it was. network: the objective's own network, for one
    that has one.
    """
    from vaekit.datasets import to_float

    fn = terms_of(OBJECTIVES[objective or settings.objective], network)
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
