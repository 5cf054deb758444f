"""The data a run was trained on, rebuilt from its config.json: the same splits, the same seed."""

from __future__ import annotations

import dataclasses

from vaekit import datasets
from vaekit.datasets import Dataset, Splits, make_splits
from vaekit.datasets.binarize import binarized_splits, static_binarized
from vaekit.errors import VaekitError
from vaekit.settings import TrainConfig

ARRAY_DATA = "<arrays>"  # TrainConfig.data of a run trained on images passed in memory


def run_data(run, binarize: str | None = None, data: str | None = None) -> tuple[Dataset, Splits]:
    """Load a run's data set at the run's image size and channels, split as in training.

    run: a ``Run`` (``Run.data`` and ``Run.splits`` are the everyday way in: this is what they
    call, with the run's own binarization).
    binarize: none, dynamic or static instead of the run's own binarization (same splits).
    data: another data set (name or folder) to split with the run's settings instead, brought
    to the model's image shape; VaekitError naming ``--data`` when it cannot be.
    """
    config, cfg = run.config, run.settings
    if binarize is not None:
        cfg = dataclasses.replace(cfg, binarize=binarize)
    if data is not None:
        c, h, w = config["model"]["image_shape"]
        if cfg.image_size is None and h != w:
            raise VaekitError(f"{data}: this run's images are {h}x{w}; only square images "
                              "can be brought to another data set's size", "data")
        loaded = datasets.load(data, cfg.image_size or h, c)
        if loaded.train.shape != (c, h, w):
            raise VaekitError(f"{data}: images are {loaded.train.shape}, the model takes {(c, h, w)}", "data")
        return split_data(loaded, dataclasses.replace(cfg, data=data, classes=None))
    if cfg.data == ARRAY_DATA:
        raise VaekitError(f"{run.path}: this run was trained on in-memory arrays, so its data cannot be "
                          "reloaded by name; pass the images explicitly")
    return split_data(datasets.load(cfg.data, cfg.image_size, cfg.image_channels), cfg)


def split_data(data: Dataset, cfg: TrainConfig) -> tuple[Dataset, Splits]:
    """The data set and splits a run with settings ``cfg`` uses, binarized as it asks."""
    if cfg.binarize == "static":
        data = static_binarized(data)
    splits = make_splits(data, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.classes)
    return data, binarized_splits(splits, cfg.binarize, cfg.seed)
