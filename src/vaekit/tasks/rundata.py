"""The data a run was trained on, rebuilt from its config.json: the same splits, the same seed."""

from __future__ import annotations

from pathlib import Path

from vaekit import datasets
from vaekit.checkpoint import read_config
from vaekit.config import TrainConfig
from vaekit.datasets import Dataset, Splits, make_splits
from vaekit.errors import VaekitError

ARRAY_DATA = "<arrays>"  # TrainConfig.data of a run trained on images passed in memory


def run_data(run: str | Path) -> tuple[Dataset, Splits]:
    """Load a run's data set at the run's image size and channels, split as in training."""
    cfg = TrainConfig.from_dict(read_config(run)["train"])
    if cfg.data == ARRAY_DATA:
        raise VaekitError(f"{run}: this run was trained on in-memory arrays, so its data cannot be "
                          "reloaded by name; pass the images explicitly")
    data = datasets.load(cfg.data, cfg.image_size, cfg.image_channels)
    return data, make_splits(data, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.classes)
