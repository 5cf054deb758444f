"""The model: encoder -> posterior over z -> decoder. An AE and a VAE differ only in the posterior
their encoder head produces (a point vs. a diagonal Gaussian); everything else is shared.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from vaekit.models.backbones import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from vaekit.models.posterior import DiagonalGaussian, PointPosterior


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as ``config.json`` beside the weights.

    model: "ae" or "vae". backbone: "mlp" or "conv". image_shape: (C, H, W).
    hidden: MLP layer widths (encoder order; the decoder mirrors them).
    channels: conv block widths (encoder order; one stride-2 block each).
    """

    model: str = "vae"
    backbone: str = "mlp"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 20
    hidden: list[int] = field(default_factory=lambda: [400])
    channels: list[int] = field(default_factory=lambda: [32, 64, 64, 64])

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
    return MLPEncoder(cfg.image_shape, cfg.hidden), MLPDecoder(cfg.image_shape, cfg.hidden, cfg.latent_dim)


def _conv(cfg: ModelConfig) -> tuple[nn.Module, nn.Module]:
    return (ConvEncoder(cfg.image_shape, cfg.channels),
            ConvDecoder(cfg.image_shape, cfg.channels, cfg.latent_dim))


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
        self.head = nn.Linear(self.encoder.out_features, self.params_per_dim * config.latent_dim)

    @property
    def latent_dim(self) -> int:
        """D, the size of a latent code."""
        return self.config.latent_dim

    def posterior(self, head_out: torch.Tensor):
        """Turn the head's (B, params_per_dim * D) output into a posterior object."""
        return PointPosterior(head_out)

    def encode(self, x: torch.Tensor):
        """x (B, C, H, W) in [0, 1] -> posterior over z with ``sample``, ``mode``, ``kl``."""
        return self.posterior(self.head(self.encoder(x)))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> pixel logits (B, C, H, W)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> images (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor):
        """The training pass: encode, draw one z per image, decode. Returns (logits, posterior)."""
        q = self.encode(x)
        return self.decode_logits(q.sample()), q

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode each image's most likely code: (B, C, H, W) -> (B, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x).mode())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` codes drawn from the prior N(0, I): (n, C, H, W) in [0, 1]."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.latent_dim), generator=generator, device=generator.device
                        if generator is not None else device)
        return self.decode(z.to(device))


class VariationalAutoEncoder(AutoEncoder):
    """A VAE: the head emits a mean and a log-variance per latent dimension."""

    params_per_dim = 2
    variational = True

    def posterior(self, head_out: torch.Tensor):
        """(B, 2D) -> N(mean, diag(exp(logvar))) with mean, logvar = the two halves."""
        mean, logvar = head_out.chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)


MODELS: dict[str, type[AutoEncoder]] = {"ae": AutoEncoder, "vae": VariationalAutoEncoder}


def build_model(config: ModelConfig | None = None, **overrides) -> AutoEncoder:
    """Build a model from a config (or keyword settings of ModelConfig).

    Unknown model or backbone names and unknown settings raise ValueError.
    """
    if config is None:
        config = ModelConfig(**overrides)
    elif overrides:
        config = ModelConfig.from_dict({**config.to_dict(), **overrides})
    return MODELS[config.model](config)
