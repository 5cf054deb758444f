"""A scikit-learn transformer: an autoencoder as a feature extractor in a ``Pipeline``.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from vaekit.sklearn import AutoencoderTransformer
    >>> clf = make_pipeline(AutoencoderTransformer(latent_dim=16, epochs=5), LogisticRegression())
    >>> clf.fit(X_train, y_train).score(X_test, y_test)       # X: (N, 784) pixels or any features

``fit`` trains a vaekit model on the rows of X (each feature min-max scaled to [0, 1] on the
training rows and kept at 8 bits, as image pixels are; a row of a square number of features is
a grey image, anything else a 1 x F strip), ``transform`` returns posterior means, and
``inverse_transform`` decodes codes back to the original feature scale. Parameters are the
training settings of ``vaekit.TrainConfig``, so ``get_params`` / ``set_params``, ``clone`` and
``GridSearchCV`` work as for any estimator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import math
import tempfile

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from vaekit.settings import TRANSFORMER_DEFAULTS, default


@contextlib.contextmanager
def _quiet_logger(name: str):
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


class AutoencoderTransformer(TransformerMixin, BaseEstimator):
    """Rows (N, F) -> codes (N, latent_dim): the posterior means of a trained AE or VAE.

    model, backbone, latent_dim, hidden, epochs, batch_size, lr, loss, beta, seed: as in
    ``vaekit.TrainConfig`` (epochs and batch size None: sized to the data). verbose: show
    vaekit's training output.
    """

    def __init__(self, model: str = default("model"), backbone: str = default("backbone"),
                 latent_dim: int = default("latent_dim", TRANSFORMER_DEFAULTS),
                 hidden: tuple[int, ...] = default("hidden"),
                 epochs: int | None = default("epochs"), batch_size: int | None = default("batch_size"),
                 lr: float = default("lr"), loss: str = default("loss"), beta: float = default("beta"),
                 seed: int = default("seed"), verbose: bool = False):
        self.model = model
        self.backbone = backbone
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.beta = beta
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _shape(self, features: int) -> tuple[int, int, int]:
        side = math.isqrt(features)
        return (1, side, side) if side * side == features else (1, 1, features)

    def _scaled(self, X: np.ndarray) -> torch.Tensor:
        """Rows scaled by the training range to [0, 1], as float images (N, C, H, W)."""
        x = (np.asarray(X, dtype=np.float64) - self.data_min_) / self.data_range_
        return torch.from_numpy(np.clip(x, 0.0, 1.0)).float().reshape(len(x), *self.image_shape_)

    # ------------------------------------------------------------------ the estimator
    def fit(self, X, y=None):
        """Train on the rows of X (y is ignored); returns self."""
        from vaekit.datasets import Dataset, ImageSet
        from vaekit.run import Run
        from vaekit.run.data import ARRAY_DATA
        from vaekit.settings import TrainConfig
        from vaekit.train.loop import fit

        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self.data_min_ = X.min(0)
        self.data_range_ = np.where(X.max(0) > self.data_min_, X.max(0) - self.data_min_, 1.0)
        self.image_shape_ = self._shape(X.shape[1])
        pixels = (self._scaled(X) * 255).round().to(torch.uint8)
        cfg = TrainConfig(data=ARRAY_DATA, model=self.model, backbone=self.backbone,
                          latent_dim=self.latent_dim, hidden=list(self.hidden), epochs=self.epochs,
                          batch_size=self.batch_size, lr=self.lr, loss=self.loss, beta=self.beta,
                          seed=self.seed, progress=self.verbose)
        # every row trains; the one-row "test set" only satisfies the run's bookkeeping
        data = Dataset(ARRAY_DATA, ImageSet(pixels), ImageSet(pixels[:1]))
        quiet = contextlib.ExitStack()
        if not self.verbose:  # a transformer inside a pipeline trains silently unless asked
            quiet.enter_context(contextlib.redirect_stdout(io.StringIO()))
            quiet.enter_context(contextlib.redirect_stderr(io.StringIO()))
            quiet.enter_context(_quiet_logger("lightning_fabric"))
        with tempfile.TemporaryDirectory(prefix="vaekit-sklearn-") as tmp, quiet:
            run = Run.open(fit(dataclasses.replace(cfg, out=f"{tmp}/run"), dataset=data))
            self.model_, self.n_epochs_ = run.model, run.summary.get("epochs")
        return self

    def transform(self, X) -> np.ndarray:
        """Posterior means (N, latent_dim), float64."""
        from vaekit.models.inference import encode

        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return encode(self.model_, self._scaled(X))[0].double().numpy()

    def inverse_transform(self, X) -> np.ndarray:
        """Decode codes (N, latent_dim) to rows (N, F) on the original feature scale."""
        from vaekit.models.inference import decode

        check_is_fitted(self, "model_")
        Z = check_array(X, dtype=np.float64)
        if Z.shape[1] != self.latent_dim:
            raise ValueError(f"X has {Z.shape[1]} features, but {type(self).__name__} decodes codes of "
                             f"{self.latent_dim}")
        rows = decode(self.model_, torch.from_numpy(Z).float()).flatten(1).double().numpy()
        return rows * self.data_range_ + self.data_min_

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """z0, z1, ...: one name per latent dimension."""
        check_is_fitted(self, "model_")
        return np.asarray([f"z{i}" for i in range(self.latent_dim)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        tags.non_deterministic = False
        return tags
