"""The data a run was trained on, rebuilt from its config.json: the same splits, the same seed."""

from __future__ import annotations

from pathlib import Path

from vaekit import datasets
from vaekit.checkpoint import read_config
from vaekit.config import TrainConfig
from vaekit.datasets import Dataset, Splits, make_splits


def run_data(run: str | Path) -> tuple[Dataset, Splits]:
    """Load a run's data set at the run's image size and channels, split as in training."""
    cfg = TrainConfig.from_dict(read_config(run)["train"])
    data = datasets.load(cfg.data, cfg.image_size, cfg.image_channels)
    return data, make_splits(data, cfg.val_fraction, cfg.test_fraction, cfg.seed)
