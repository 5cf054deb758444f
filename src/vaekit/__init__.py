"""vaekit: autoencoders and variational autoencoders on images.

    >>> import vaekit
    >>> run = vaekit.fit(data="mnist", model="vae", epochs=5)
    >>> model = vaekit.load(run)
    >>> images = model.sample(64)
    >>> vaekit.Run.open(run).sample(64, sampler="gmm")
"""

from vaekit import datasets
from vaekit.checkpoint import load, save
from vaekit.config import TrainConfig
from vaekit.errors import SettingError, VaekitError
from vaekit.models import ModelConfig, build_model
from vaekit.run import Run

__all__ = ["AnomalyDetector", "ModelConfig", "Run", "SettingError", "TrainConfig", "VaekitError",
           "build_model", "datasets", "evaluate", "fit", "load", "save"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # `fit` pulls in Lightning Fabric; import it on first use so `vaekit --help` and the data and
    # sampling commands start quickly.
    if name == "fit":
        from vaekit.train import fit

        return fit
    if name == "evaluate":
        from vaekit.evaluation import evaluate

        return evaluate
    if name == "AnomalyDetector":
        from vaekit.anomaly import AnomalyDetector

        return AnomalyDetector
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
