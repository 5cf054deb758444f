"""vaekit: autoencoders and variational autoencoders on images.

    >>> import vaekit
    >>> run = vaekit.fit(data="mnist", model="vae", epochs=5)
    >>> model = vaekit.load(run)
    >>> images = model.sample(64)
    >>> vaekit.Run.open(run).sample(64, sampler="gmm")

Every name here is imported on first use, so ``import vaekit`` loads no torch until a name is
used (the command line does: its options list the registries' entries, which are torch modules).
"""

import importlib

__version__ = "0.1.0"

_WHERE = {
    "AnomalyDetector": "vaekit.tasks.anomaly", "ModelConfig": "vaekit.models", "Run": "vaekit.run",
    "SettingError": "vaekit.errors", "TrainConfig": "vaekit.settings", "VaekitError": "vaekit.errors",
    "build_model": "vaekit.models", "evaluate": "vaekit.tasks.evaluation", "fit": "vaekit.train.loop",
    "find_attributes": "vaekit.tasks.attributes",
    "load": "vaekit.run.checkpoint", "save": "vaekit.run.checkpoint",
}
__all__ = sorted([*_WHERE, "datasets"])


def __getattr__(name: str):
    if name == "datasets":
        return importlib.import_module("vaekit.datasets")
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
