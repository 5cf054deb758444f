"""Settings for training, validated when built so a bad value fails before any work is done."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from vaekit.corrupt import parse_corruption
from vaekit.datasets.binarize import BINARIZE
from vaekit.device import PRECISIONS
from vaekit.errors import VaekitError
from vaekit.losses import OBJECTIVES, RECON_LOSSES
from vaekit.models import ACTIVATIONS, BACKBONES, MODELS

LR_SCHEDULES = ("onecycle", "constant", "iwae")

# Settings that reproduce a paper's protocol; `vaekit train --preset NAME`, flags given on the
# command line override them.
PRESETS: dict[str, dict] = {
    # Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016), MNIST,
    # one stochastic layer: 784-200-200-50 with tanh, Bernoulli decoder, dynamic binarization,
    # Adam (eps 1e-4), batch 20, lr 1e-3 * 10^(-i/7) for 3^i epochs, i = 0..7 (3,280 epochs).
    # Add objective="iwae", k=50 for the IWAE column.
    "iwae": {"data": "mnist", "model": "vae", "backbone": "mlp", "hidden": [200, 200],
             "activation": "tanh", "latent_dim": 50, "loss": "bce", "binarize": "dynamic",
             "batch_size": 20, "lr": 1e-3, "lr_schedule": "iwae", "epochs": 3280, "adam_eps": 1e-4,
             "val_fraction": 0.005},
}


@dataclass
class TrainConfig:
    """Everything ``vaekit train`` / ``vaekit.fit`` needs; saved in the run's config.json.

    Defaults are the fast everyday setting (batch 256, one-cycle LR peaking at 6e-3); the
    tutorial protocol is ``batch_size=128, lr=1e-3, lr_schedule="constant"``. ``epochs`` and
    ``batch_size`` left as None are sized to the data by ``resolve_length``. ``denoise`` (a
    corruption spec, see ``vaekit.corrupt``) trains on corrupted inputs against clean targets;
    ``classes`` trains on images of those classes only (the one-class anomaly protocol; the
    test split keeps every class). ``binarize`` (none, dynamic, static; see
    ``vaekit.datasets.binarize``) turns grey pixels into Bernoulli draws. ``objective`` "iwae"
    trains on the importance-weighted bound with ``k`` samples per image. ``keep_every`` keeps a
    copy of the weights every that many epochs (``snapshots/``), for curves over training.
    """

    data: str = "mnist"
    model: str = "vae"
    backbone: str = "mlp"
    latent_dim: int = 20
    hidden: list[int] = field(default_factory=lambda: [400])
    channels: list[int] = field(default_factory=lambda: [32, 64, 64, 64])
    image_size: int | None = None
    image_channels: int | None = None
    loss: str = "bce"
    beta: float = 1.0
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = 6e-3
    lr_schedule: str = "onecycle"
    weight_decay: float = 0.0
    val_fraction: float = 0.02
    test_fraction: float = 0.1
    seed: int = 0
    out: str | None = None
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    precision: str = "auto"
    progress: bool = True
    denoise: str | None = None
    classes: list[int] | None = None
    activation: str = "relu"
    binarize: str = "none"
    objective: str = "elbo"
    k: int = 1
    adam_eps: float = 1e-8
    keep_every: int | None = None

    def __post_init__(self):
        checks = [
            (self.model in MODELS, "--model", f"one of {', '.join(MODELS)}", self.model),
            (self.backbone in BACKBONES, "--backbone", f"one of {', '.join(BACKBONES)}", self.backbone),
            (self.loss in RECON_LOSSES, "--loss", f"one of {', '.join(RECON_LOSSES)}", self.loss),
            (self.lr_schedule in LR_SCHEDULES, "--lr-schedule", f"one of {', '.join(LR_SCHEDULES)}",
             self.lr_schedule),
            (self.latent_dim >= 1, "--latent-dim", "an integer >= 1", self.latent_dim),
            (self.epochs is None or self.epochs >= 1, "--epochs", "an integer >= 1", self.epochs),
            (self.batch_size is None or self.batch_size >= 1, "--batch-size", "an integer >= 1",
             self.batch_size),
            (self.lr > 0, "--lr", "a number > 0", self.lr),
            (self.beta >= 0, "--beta", "a number >= 0", self.beta),
            (0 < self.val_fraction < 1, "--val-fraction", "a fraction in (0, 1)", self.val_fraction),
            (0 < self.test_fraction < 1, "--test-fraction", "a fraction in (0, 1)", self.test_fraction),
            (self.image_size is None or self.image_size >= 4, "--image-size", "an integer >= 4",
             self.image_size),
            (self.image_channels in (None, 1, 3), "--image-channels", "1 or 3", self.image_channels),
            (all(h >= 1 for h in self.hidden) and len(self.hidden) >= 1, "--hidden",
             "one or more positive widths", self.hidden),
            (all(c >= 1 for c in self.channels) and len(self.channels) >= 1, "--channels",
             "one or more positive widths", self.channels),
            (self.precision in PRECISIONS, "--precision", f"one of {', '.join(PRECISIONS)}",
             self.precision),
            (self.devices >= 1 and self.num_nodes >= 1, "--devices/--num-nodes", "integers >= 1",
             (self.devices, self.num_nodes)),
            (self.activation in ACTIVATIONS, "--activation", f"one of {', '.join(ACTIVATIONS)}",
             self.activation),
            (self.binarize in BINARIZE, "--binarize", f"one of {', '.join(BINARIZE)}", self.binarize),
            (self.objective in OBJECTIVES, "--objective", f"one of {', '.join(OBJECTIVES)}",
             self.objective),
            (self.k >= 1, "--k", "an integer >= 1", self.k),
            (self.adam_eps > 0, "--adam-eps", "a number > 0", self.adam_eps),
            (self.keep_every is None or self.keep_every >= 1, "--keep-every", "an integer >= 1",
             self.keep_every),
            (self.objective != "iwae" or self.model in ("vae", "cvae"), "--objective iwae",
             "a variational model (--model vae or cvae)", self.model),
            (self.objective != "iwae" or self.loss == "bce", "--objective iwae",
             "the Bernoulli likelihood (--loss bce)", self.loss),
            (self.objective != "iwae" or self.beta == 1.0, "--objective iwae", "--beta 1", self.beta),
        ]
        for ok, flag, expected, found in checks:
            if not ok:
                raise VaekitError(f"{flag}: expected {expected}, got {found!r}")
        if self.denoise is not None:
            self.denoise = parse_corruption(self.denoise).spec
        if self.classes is not None and (not self.classes or any(c < 0 for c in self.classes)):
            raise VaekitError(f"--classes: expected one or more class indices >= 0, got {self.classes!r}")

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Rebuild from ``to_dict()`` output, ignoring keys this version does not know."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_preset(cls, name: str, **overrides) -> TrainConfig:
        """A preset's settings (see ``PRESETS``) with ``overrides`` on top."""
        if name not in PRESETS:
            raise VaekitError(f"--preset: expected one of {', '.join(PRESETS)}, got {name!r}")
        return cls(**{**PRESETS[name], **overrides})


MIN_STEPS = 2000  # updates a default-length run gets at least (matters for small data sets)
MIN_STEPS_PER_EPOCH = 20


def resolve_length(cfg: TrainConfig, n_train: int, world: int = 1) -> TrainConfig:
    """Fill in a batch size and epoch count left unset, from the number of training images.

    batch size: 256, halved (down to 16) until an epoch has at least 20 steps per process.
    epochs: 10, or more so that the run makes at least 2000 updates (400 faces need ~90 epochs).
    """
    per_rank = max(1, n_train // world)
    batch = cfg.batch_size
    if batch is None:
        batch = 256
        while batch > 16 and per_rank // batch < MIN_STEPS_PER_EPOCH:
            batch //= 2
    epochs = cfg.epochs
    if epochs is None:
        steps = -(-per_rank // batch)
        epochs = max(10, -(-MIN_STEPS // steps))
    return dataclasses.replace(cfg, batch_size=batch, epochs=epochs)
