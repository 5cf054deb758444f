"""The four sections of settings every run has: data, model, optimisation, runtime.

Each is a dataclass of ``setting(...)`` fields, declared once: ``TrainConfig`` is made of them,
a saved model's ``ModelConfig`` is ``ModelSettings`` plus its image shape, and the CLI's options,
the page's form and ``schema()`` are read from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from vaekit.registry import ACTIVATIONS, BACKBONES, LOGGERS, MODELS, OBJECTIVES, PRIORS
from vaekit.settings.fields import (
    MOST_SIDE,
    MOST_WIDTH,
    finite_positive,
    int_in,
    optional,
    positive_widths,
    setting,
    weight,
)

# Names a setting can take that no registry holds. This module imports nothing heavy (no torch),
# so the CLI is built and flags are checked before torch loads.
LR_SCHEDULES = ("onecycle", "constant", "iwae")
BINARIZE = ("none", "dynamic", "static")  # see vaekit.datasets.binarize
# One precision vocabulary everywhere (see vaekit.train.device); runs written before it was unified
# used Lightning's own spellings, which still load.
PRECISIONS = ("auto", "32", "bf16", "16")
LEGACY_PRECISIONS = {"32-true": "32", "bf16-mixed": "bf16", "16-mixed": "16"}
ACCELERATORS = ("auto", "cpu", "cuda", "mps")
RECON_LOSSES = ("bce", "mse", "l1")  # see vaekit.objectives.losses


@dataclass
class DataSettings:
    """What to train on and how it is split."""

    data: str = setting("mnist", "Built-in data set (see `vaekit data list`) or an image folder.",
                        check=lambda v: isinstance(v, str) and v != "", expected="a data set name or folder")
    image_size: int | None = setting(
        None, "Center-crop and resize images to this square side (default: the data's own size; 64 for folders).",
        check=optional(int_in(4, MOST_SIDE)), expected=f"an integer from 4 to {MOST_SIDE}")
    image_channels: int | None = setting(None, "1 (grey) or 3 (RGB); default: the data's own.",
                                         check=lambda v: v in (None, 1, 3), expected="1 or 3")
    val_fraction: float = setting(0.02, "Share of training images held out for validation.",
                                  check=lambda v: 0 < v < 1, expected="a fraction in (0, 1)")
    test_fraction: float = setting(0.1, "Share held out as the test set when the data has no official one.",
                                   check=lambda v: 0 < v < 1, expected="a fraction in (0, 1)")
    classes: list[int] | None = setting(
        None, "Train on these classes only, comma-separated (e.g. 3 for one-class anomaly detection).",
        check=lambda v: v is None or (len(v) >= 1 and all(isinstance(c, int) and c >= 0 for c in v)),
        expected="one or more class indices >= 0")
    binarize: str = setting("none", "none (grey pixels), dynamic (a fresh Bernoulli draw each time an image "
                            "is used) or static (one fixed draw).", choices=BINARIZE)
    denoise: str | None = setting(
        None, "Train to remove a corruption: gaussian:SIGMA, saltpepper:RATE, erase:AREA, watermark[:TEXT] "
        "or logo:PATH (inputs corrupted on the fly, targets clean).")


@dataclass
class ModelSettings:
    """The network: which model kind, backbone and prior, and their sizes."""

    model: str = setting("vae", "Model kind; see `vaekit models`.",
                         choices=MODELS)
    backbone: str = setting("mlp", "Encoder and decoder network; see `vaekit models`.",
                            choices=BACKBONES)
    prior: str | None = setting(None, "Prior over the code (default: the model kind's own, else normal); see "
                                "`vaekit models`.",
                                choices=PRIORS)
    latent_dim: int = setting(20, "Size of the latent code z.", check=int_in(1, MOST_WIDTH),
                              expected=f"an integer from 1 to {MOST_WIDTH}")
    hidden: list[int] = setting(factory=lambda: [400], help="MLP layer widths, comma-separated.",
                                check=positive_widths, expected=f"one or more widths from 1 to {MOST_WIDTH}")
    channels: list[int] = setting(factory=lambda: [32, 64, 64, 64],
                                  help="Conv block widths, comma-separated (one stride-2 block each).",
                                  check=positive_widths, expected=f"one or more widths from 1 to {MOST_WIDTH}")
    activation: str = setting("relu", "MLP nonlinearity.",
                              choices=ACTIVATIONS)


@dataclass
class OptimSettings:
    """The objective and the optimiser."""

    objective: str | None = setting(None, "Training objective (default: the model kind's own, else elbo); see "
                                    "`vaekit models`.",
                                    choices=OBJECTIVES)
    loss: str = setting("bce", "Reconstruction term: bce (Bernoulli), mse or l1 (summed over pixels).",
                        choices=RECON_LOSSES)
    beta: float = weight(1.0, "Weight of the KL term (1 = the ELBO).")
    k: int = setting(1, "Posterior samples per image per step (iwae: the bound's k).",
                     check=int_in(1), expected="an integer >= 1", flag="--k")
    epochs: int | None = setting(
        None, "Passes over the training images (default: 10, more for small data sets so that training makes "
        "at least 2000 updates).", check=optional(int_in(1)), expected="an integer >= 1")
    batch_size: int | None = setting(
        None, "Images per step per process (default: 256, halved down to 16 until an epoch has 20 steps).",
        check=optional(int_in(1)), expected="an integer >= 1")
    lr: float = setting(6e-3, "Learning rate (the peak, for one-cycle).", check=finite_positive,
                        expected="a finite number > 0")
    lr_schedule: str = setting("onecycle", "onecycle (warm up, then cosine down), constant, or iwae (Burda et al.'s "
                               "stages).", choices=LR_SCHEDULES)
    weight_decay: float = setting(0.0, "Adam weight decay.", check=lambda v: 0 <= v < float("inf"),
                                  expected="a number >= 0")
    adam_eps: float = setting(1e-8, "Adam's epsilon.", check=finite_positive, expected="a finite number > 0")


@dataclass
class RuntimeSettings:
    """Where and how the work runs, and where it is written."""

    seed: int = setting(0, "Seed for splits, initialisation, shuffling and noise.", check=int_in(0),
                        expected="an integer >= 0")
    out: str | None = setting(None, "Run folder to create (default: runs/DATA-MODEL-BACKBONE-zD-TIME).")
    accelerator: str = setting("auto", "auto, cpu, cuda or mps.", choices=ACCELERATORS)
    devices: int = setting(1, "Processes/GPUs on this machine (DDP through Lightning Fabric when > 1).",
                           check=int_in(1), expected="an integer >= 1")
    num_nodes: int = setting(1, "Machines taking part (set MASTER_ADDR, NODE_RANK as for torchrun).",
                             check=int_in(1), expected="an integer >= 1")
    threads: int | None = setting(
        None, "CPU threads per process (default: $OMP_NUM_THREADS if set, else the CPUs not busy with other "
        "work when the run starts; --devices processes share them). Stored with the run, so a resume "
        "uses the same: the thread count changes the last bits of every sum, and so the trained weights.",
        check=optional(int_in(1)), expected="an integer >= 1")
    precision: str = setting("auto", "auto (bf16 where the hardware does bfloat16 natively, else 32), 32, bf16 "
                             "or 16 (float16 mixed, GPUs).", choices=PRECISIONS)
    progress: bool = setting(True, "Show the progress bar.")
    keep_every: int | None = setting(None, "Also keep the weights every N epochs in snapshots/ (for curves).",
                                     check=optional(int_in(1)), expected="an integer >= 1")
    logger: list[str] = setting(factory=lambda: ["csv"], help="Experiment tracking, repeatable: csv (metrics.csv, always on), tensorboard (RUN/tensorboard/), mlflow (./mlruns or $MLFLOW_TRACKING_URI).",
                                check=lambda v: isinstance(v, list) and all(n in LOGGERS for n in v),
                                expected="csv, tensorboard or mlflow, one per --logger")


SECTIONS = (DataSettings, ModelSettings, OptimSettings, RuntimeSettings)
