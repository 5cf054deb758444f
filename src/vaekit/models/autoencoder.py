"""The model: encoder -> head -> posterior over z -> decoder, with a prior over z.

Every model kind is this one class; the registries decide the parts:

    MODELS["vae"]   which posterior the head produces (a point for an AE, a diagonal Gaussian
                    for a VAE) and whether the model needs class labels (a conditional model)
    BACKBONES       the encoder/decoder networks (models/backbones.py)
    PRIORS          p(z) (models/priors.py)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.errors import SettingError, VaekitError
from vaekit.models.vq import VQVAESettings
from vaekit.registry import ACTIVATIONS, BACKBONES, MODELS, POSTERIORS, PRIORS
from vaekit.settings import (
    FALLBACK,
    MODEL_CHOOSERS,
    EntryKnobs,
    ModelSettings,
    check_fields,
    knobs,
    prior_problem,
    whole_number,
)


@dataclass(frozen=True)
class ModelKind:
    """A registered model: its posterior kind (``POSTERIORS``), whether it needs labels, one line
    of description and the paper it comes from; objective / prior: the ones it trains with when
    none is chosen (None: elbo / normal), and the only ones it accepts."""

    posterior: str
    conditional: bool = False
    about: str = ""
    objective: str | None = None
    prior: str | None = None
    settings: type | None = None  # a dataclass of this kind's own settings (see vaekit.settings)


MODELS.update({
    "ae": ModelKind("point", about="autoencoder: a deterministic code (Hinton & Salakhutdinov 2006)"),
    "vae": ModelKind("gaussian", about="variational autoencoder (Kingma & Welling 2014)"),
    "cvae": ModelKind("gaussian", conditional=True,
                      about="VAE conditioned on the class label (Sohn et al. 2015)"),
    "vqvae": ModelKind("quantized", objective="vq", prior="codebook", settings=VQVAESettings,
                       about="VQ-VAE: codes on a grid, each the nearest of --codebook-size learnt vectors, "
                             "sampled through a PixelCNN prior (van den Oord et al. 2017)"),
})


@dataclass(init=False, eq=False)
class ModelConfig(EntryKnobs, ModelSettings):
    """Everything needed to rebuild a model; saved as ``config.json`` beside the weights.

    The fields of ``ModelSettings`` (model kind, backbone, prior, sizes: declared there once,
    with their defaults and checks), plus the chosen model kind's, backbone's and prior's own
    settings (e.g. ``attention`` of the resnet backbone, read as attributes) and:
    image_shape: (C, H, W). num_classes: labels the model is conditioned on (0: unconditional;
    > 0 is required for "cvae" and makes any other kind conditional too).
    """

    CHOSEN = MODEL_CHOOSERS
    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 0
    knobs: dict = field(default_factory=dict)

    def __init__(self, **values):
        self._init_fields(values)
        self.__post_init__()

    def __post_init__(self):
        if self.prior is None and self.model in MODELS:
            self.prior = MODELS[self.model].prior or FALLBACK["prior"]
        # sizes come from config.json too, which may have been edited: whole numbers in range,
        # checked before a layer of absurd size is allocated
        for name in ("hidden", "channels"):
            if isinstance(getattr(self, name), tuple):
                setattr(self, name, list(getattr(self, name)))
        for name, registry in (("model", MODELS), ("backbone", BACKBONES), ("prior", PRIORS),
                               ("activation", ACTIVATIONS)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in registry:
                raise SettingError(name, f"one of {', '.join(registry)}", value,
                                   f"unknown {name} {value!r}; choose from {', '.join(registry)}")
        check_fields(self)
        self.latent_dim = int(self.latent_dim)  # a numpy integer from a caller, a plain int in the file
        self.hidden, self.channels = [int(v) for v in self.hidden], [int(v) for v in self.channels]
        shape = self.image_shape
        if not (isinstance(shape, (list, tuple)) and len(shape) == 3
                and all(whole_number(v, 1, 4096) for v in shape)):
            raise SettingError("image_shape", "(C, H, W) with whole sizes from 1 to 4096", shape)
        self.image_shape = tuple(int(v) for v in shape)
        if not whole_number(self.num_classes, 0, 1_000_000):
            raise SettingError("num_classes", "an integer >= 0", self.num_classes)
        self.num_classes = int(self.num_classes)
        if self.backbone == "mlp" and math.prod(shape) * max(self.hidden) > 2**28:
            raise SettingError("hidden", "an MLP layer under 268 million weights (1 GB; use --backbone "
                               "conv for large images)",
                               f"{math.prod(shape):,} pixels x {max(self.hidden):,} units")
        self._resolve_knobs()
        size_problem = getattr(BACKBONES[self.backbone], "problem", None)
        why = size_problem(self) if size_problem else None
        if why:
            raise SettingError("image_size", why, "x".join(map(str, shape[1:])))
        if self.model == "vqvae":
            from vaekit.models.vq import vq_problem

            why = vq_problem(self)
            if why:
                raise SettingError("latent_dim", why, self.latent_dim)
        why = prior_problem(self.prior, self.model)
        if why:
            raise SettingError("prior", why, self.prior)
        if MODELS[self.model].conditional and self.num_classes < 1:
            raise SettingError("num_classes", f"> 0 for a conditional model ({self.model})", self.num_classes)

    @property
    def conditional(self) -> bool:
        """True when the model takes a class label with every image and code."""
        return self.num_classes > 0

    def to_dict(self) -> dict:
        """A JSON-ready dict, flat (the chosen entries' settings beside the fields)."""
        d = super().to_dict()
        d["image_shape"] = list(self.image_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Rebuild from ``to_dict()`` output (older runs lack later fields, which take their
        defaults); unknown keys are an error."""
        if not isinstance(d, dict):
            raise VaekitError(f"the model section must be a JSON object, got {type(d).__name__}", "model")
        registries = {"model": MODELS, "backbone": BACKBONES, "prior": PRIORS}
        missing = [k for k, r in registries.items() if isinstance(d.get(k), str) and d[k] not in r]
        if missing:  # before the keys: an entry's own settings are unknown while the entry is
            name = d[missing[0]]
            raise SettingError(missing[0], f"one of {', '.join(registries[missing[0]])}", name,
                               f"unknown {missing[0]} {name!r} (registered by a plugin? name its module in "
                               "$VAEKIT_PLUGINS)")
        unknown = set(d) - ({f.name for f in dataclasses.fields(cls)} - {"knobs"}) - set(knobs())
        if unknown:
            raise SettingError("model", "known model config keys", sorted(unknown),
                               f"unknown model config keys: {sorted(unknown)}")
        try:
            return cls(**cls._from_flat(d, MODEL_CHOOSERS))
        except TypeError as e:  # a string where a number belongs, a list where a name does
            raise VaekitError(f"the model settings hold a value of the wrong type ({e})") from None


class AutoEncoder(nn.Module):
    """An autoencoder over images in [0, 1]; the decoder outputs logits, ``decode`` probabilities.

    Which posterior the head produces, which prior the codes are held to, and whether labels
    are needed all come from the config's registry entries; nothing else differs between kinds.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.kind = POSTERIORS[MODELS[config.model].posterior]
        self.encoder, self.decoder = BACKBONES[config.backbone](config)
        self.prior = PRIORS[config.prior](config)
        if hasattr(self.prior, "bind"):  # a prior built from the model's own encoder (vamp)
            self.prior.bind(self)
        # a conditional model's head reads [encoder features, one-hot label]
        features = self.encoder.out_features + config.num_classes
        self.head = (nn.Linear(features, self.kind.params_per_dim * config.latent_dim)
                     if self.kind.head is None else self.kind.head(features, config, self.encoder))

    @property
    def latent_dim(self) -> int:
        """D, the size of a latent code."""
        return self.config.latent_dim

    @property
    def variational(self) -> bool:
        """True when codes are random draws (a VAE): the model has a likelihood and a KL term."""
        return self.kind.variational

    @property
    def conditional(self) -> bool:
        """True for a model that needs a class label with every image and code."""
        return self.config.conditional

    def _with_label(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Append the one-hot label (B, K) to features or codes (B, F); unconditional: unchanged."""
        if not self.conditional:
            return h
        if y is None:
            raise VaekitError("this is a conditional model: give the class label of every image "
                              "(for sampling: --class)")
        y = torch.as_tensor(y, device=h.device).long()
        if int(y.min()) < 0 or int(y.max()) >= self.config.num_classes:
            raise VaekitError(f"class labels must be in 0..{self.config.num_classes - 1}, got "
                              f"{int(y.min())}..{int(y.max())}")
        return torch.cat([h, F.one_hot(y, self.config.num_classes).to(h.dtype)], 1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """x (B, C, H, W) in [0, 1] -> posterior over z with ``sample``, ``mode``, ``kl``.

        y: (B,) class labels, needed by a conditional model and ignored by the others.
        """
        return self.kind.build(self.head(self._with_label(self.encoder(x), y)), self.prior)

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, D) [and labels y (B,) for a conditional model] -> pixel logits (B, C, H, W)."""
        return self.decoder(self._with_label(z, y))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, D) [and labels y (B,) for a conditional model] -> images (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z, y))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, samples: int = 1):
        """The training pass: encode, draw ``samples`` codes per image, decode them.

        Returns (logits (S, B, C, H, W), posterior, z (S, B, D)) with S = ``samples``.
        """
        q = self.encode(x, y)
        z = q.sample(n=samples)
        return self.decode_samples(z, y), q, z

    def decode_samples(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Codes z (S, B, D) [and labels y (B,)] -> logits (S, B, C, H, W), in one decoder pass."""
        s, b = z.shape[:2]
        labels = None if y is None else y.repeat(s)  # sample-major, matching z.flatten(0, 1)
        return self.decode_logits(z.flatten(0, 1), labels).unflatten(0, (s, b))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Decode each image's most likely code: (B, C, H, W) -> (B, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x, y).mode(), y)

    def default_labels(self, n: int) -> torch.Tensor | None:
        """The labels ``n`` samples get when none are chosen: every class in turn for a
        conditional model (0, 1, ..., K-1, 0, ...), None for the others."""
        return torch.arange(n) % self.config.num_classes if self.conditional else None

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior: (n, C, H, W) in [0, 1].

        labels: (n,) classes for a conditional model; default: 0, 1, ..., K-1, 0, 1, ...
        """
        device = next(self.parameters()).device
        z = self.prior.sample(n, generator, device)
        if labels is None:
            labels = self.default_labels(n)
        if labels is not None:
            labels = torch.as_tensor(labels, device=device).long()
        return self.decode(z.to(device), labels)


def build_model(config: ModelConfig | None = None, **overrides) -> AutoEncoder:
    """Build a model from a config (or keyword settings of ModelConfig).

    Unknown model, backbone or prior names raise SettingError (a ValueError); unknown settings
    a TypeError.
    """
    if config is None:
        config = ModelConfig(**overrides)
    elif overrides:
        config = ModelConfig.from_dict({**config.to_dict(), **overrides})
    return AutoEncoder(config)
