"""Models: the AE/VAE registry, backbones, and the posterior objects ``encode()`` returns."""

from vaekit.models.autoencoder import (
    ACTIVATIONS,
    BACKBONES,
    MODELS,
    AutoEncoder,
    ModelConfig,
    VariationalAutoEncoder,
    build_model,
)
from vaekit.models.posterior import DiagonalGaussian, PointPosterior

__all__ = [
    "ACTIVATIONS", "BACKBONES", "MODELS", "AutoEncoder", "DiagonalGaussian", "ModelConfig", "PointPosterior",
    "VariationalAutoEncoder", "build_model",
]
