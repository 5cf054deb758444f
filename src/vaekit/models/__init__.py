"""Models: one model class whose parts come from registries -- model kinds (posterior, labels),
backbones (encoder/decoder networks) and priors -- plus the posterior objects ``encode()`` returns.

Importing this package fills the model registries (vaekit.registry) in a fixed order: the
priors (normal, vamp), the VQ parts (codebook prior, quantized posterior), the two-layer prior,
the backbones, then the model kinds.
"""

# the import order is the registries' order (pyproject.toml keeps isort off this file)
from vaekit.models.priors import StandardNormal
from vaekit.models.vq import CodebookPrior
from vaekit.models.two_layer import TwoLayerPrior
from vaekit.models.backbones import mlp  # noqa: F401
from vaekit.models.autoencoder import AutoEncoder, ModelConfig, ModelKind, build_model
from vaekit.models.posterior import DiagonalGaussian, PointPosterior, PosteriorKind
from vaekit.registry import ACTIVATIONS, BACKBONES, MODELS, POSTERIORS, PRIORS

__all__ = [
    "ACTIVATIONS", "BACKBONES", "MODELS", "POSTERIORS", "PRIORS", "AutoEncoder", "CodebookPrior",
    "DiagonalGaussian", "ModelConfig", "ModelKind", "PointPosterior", "PosteriorKind", "StandardNormal",
    "TwoLayerPrior", "build_model",
]
