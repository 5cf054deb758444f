"""The model: encoder -> posterior over z -> decoder. An AE and a VAE differ only in the posterior
their encoder head produces (a point vs. a diagonal Gaussian); everything else is shared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.errors import VaekitError
from vaekit.models.backbones import ACTIVATIONS, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from vaekit.models.posterior import DiagonalGaussian, PointPosterior


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as ``config.json`` beside the weights.

    model: "ae", "vae" or "cvae". backbone: "mlp" or "conv". image_shape: (C, H, W).
    hidden: MLP layer widths (encoder order; the decoder mirrors them).
    channels: conv block widths (encoder order; one stride-2 block each).
    num_classes: for "cvae", the number of labels it is conditioned on (0 otherwise).
    activation: the MLP's nonlinearity, "relu" or "tanh" (the conv backbone uses LeakyReLU).
    """

    model: str = "vae"
    backbone: str = "mlp"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 20
    hidden: list[int] = field(default_factory=lambda: [400])
    channels: list[int] = field(default_factory=lambda: [32, 64, 64, 64])
    num_classes: int = 0
    activation: str = "relu"

    def __post_init__(self):
        self.image_shape = tuple(int(s) for s in self.image_shape)
        if self.model not in MODELS:
            raise ValueError(f"unknown model '{self.model}'; choose from {', '.join(MODELS)}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone '{self.backbone}'; choose from {', '.join(BACKBONES)}")
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with positive sizes, got {self.image_shape}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{self.activation}'; choose from {', '.join(ACTIVATIONS)}")
        if (self.model == "cvae") != (self.num_classes > 0):
            raise ValueError(f"num_classes must be > 0 exactly for a cvae, got {self.num_classes} for "
                             f"{self.model}")

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Rebuild from ``to_dict()`` output; unknown keys are an error."""
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)


def _mlp(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    # a conditional decoder reads [z, one-hot label]
    code = cfg.latent_dim + cfg.num_classes
    return (MLPEncoder(cfg.image_shape, cfg.hidden, cfg.activation),
            MLPDecoder(cfg.image_shape, cfg.hidden, code, cfg.activation))


def _conv(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    code = cfg.latent_dim + cfg.num_classes
    return ConvEncoder(cfg.image_shape, cfg.channels), ConvDecoder(cfg.image_shape, cfg.channels, code)


BACKBONES = {"mlp": _mlp, "conv": _conv}


class AutoEncoder(nn.Module):
    """An autoencoder over images in [0, 1]; the decoder outputs logits, ``decode`` probabilities.

    Subclasses set how many numbers per latent dimension the head emits and how they become a
    posterior; nothing else differs between model kinds.
    """

    params_per_dim = 1
    variational = False

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder, self.decoder = BACKBONES[config.backbone](config)
        # a conditional model's head reads [encoder features, one-hot label]
        self.head = nn.Linear(self.encoder.out_features + config.num_classes,
                              self.params_per_dim * config.latent_dim)

    @property
    def latent_dim(self) -> int:
        """D, the size of a latent code."""
        return self.config.latent_dim

    def posterior(self, head_out: torch.Tensor):
        """Turn the head's (B, params_per_dim * D) output into a posterior object."""
        return PointPosterior(head_out)

    @property
    def conditional(self) -> bool:
        """True for a model that needs a class label with every image and code."""
        return self.config.num_classes > 0

    def _with_label(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Append the one-hot label (B, K) to features or codes (B, F); unconditional: unchanged."""
        if not self.conditional:
            return h
        if y is None:
            raise VaekitError("this is a conditional model (cvae): give the class label of every image "
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
        return self.posterior(self.head(self._with_label(self.encoder(x), y)))

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

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior N(0, I): (n, C, H, W) in [0, 1].

        labels: (n,) classes for a conditional model; default: 0, 1, ..., K-1, 0, 1, ...
        """
        device = next(self.parameters()).device
        z = torch.randn((n, self.latent_dim), generator=generator, device=generator.device
                        if generator is not None else device)
        if self.conditional and labels is None:
            labels = torch.arange(n) % self.config.num_classes
        if labels is not None:
            labels = torch.as_tensor(labels, device=device).long()
        return self.decode(z.to(device), labels)


class VariationalAutoEncoder(AutoEncoder):
    """A VAE: the head emits a mean and a log-variance per latent dimension."""

    params_per_dim = 2
    variational = True

    def posterior(self, head_out: torch.Tensor):
        """(B, 2D) -> N(mean, diag(exp(logvar))) with mean, logvar = the two halves."""
        mean, logvar = head_out.chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)


class ConditionalVAE(VariationalAutoEncoder):
    """A VAE conditioned on a class label: [features, one-hot] -> head, [z, one-hot] -> decoder.

    Sampling with a chosen label generates that class; the latent code is left to carry style.
    """


MODELS: dict[str, type[AutoEncoder]] = {"ae": AutoEncoder, "vae": VariationalAutoEncoder,
                                        "cvae": ConditionalVAE}


def build_model(config: ModelConfig | None = None, **overrides) -> AutoEncoder:
    """Build a model from a config (or keyword settings of ModelConfig).

    Unknown model or backbone names and unknown settings raise ValueError.
    """
    if config is None:
        config = ModelConfig(**overrides)
    elif overrides:
        config = ModelConfig.from_dict({**config.to_dict(), **overrides})
    return MODELS[config.model](config)
