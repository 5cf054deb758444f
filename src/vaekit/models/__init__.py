"""Models: one model class whose parts come from registries -- model kinds (posterior, labels),
backbones (encoder/decoder networks) and priors -- plus the posterior objects ``encode()`` returns."""

from vaekit.models.autoencoder import MODELS, AutoEncoder, ModelConfig, ModelKind, build_model
from vaekit.models.backbones import ACTIVATIONS, BACKBONES
from vaekit.models.posterior import POSTERIORS, DiagonalGaussian, PointPosterior, PosteriorKind
from vaekit.models.priors import PRIORS, StandardNormal

__all__ = [
    "ACTIVATIONS", "BACKBONES", "MODELS", "POSTERIORS", "PRIORS", "AutoEncoder", "DiagonalGaussian",
    "ModelConfig", "ModelKind", "PointPosterior", "PosteriorKind", "StandardNormal", "build_model",
]
