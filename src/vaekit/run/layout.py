"""The run folder's format: every file a run holds, named once.

    RUN/config.json                   model + training settings and data description (JSON)
    RUN/model.safetensors             the weights (rewritten atomically after every epoch)
    RUN/checkpoint.safetensors        everything a resume needs: weights, optimizer, RNG, epoch
    RUN/metrics.csv                   one row per epoch: every term, lr, seconds
    RUN/summary.json                  test numbers and time, written when training ends
    RUN/eval.json                     ``vaekit evaluate``'s numbers
    RUN/prior.json                    a VQ-VAE's PixelCNN fit (``vaekit train-prior``)
    RUN/attributes.json, .png         attribute directions and their walks (``vaekit attributes``)
    RUN/README.md                     the model card
    RUN/grids/{recon,samples}_epochNNN.png
    RUN/snapshots/epoch-NNNN.safetensors   with --keep-every
    RUN/gmm-K.json, RUN/two_stage.safetensors   samplers' fits to the codes, cached
    RUN/tensorboard/                  with --logger tensorboard

Only vaekit.run reads these (``Run``: ``config``, ``summary``, ``eval``, ``metrics``,
``prior_fit``, ``grid``, ``Run.find``); the trainer and the commands write them by these names.
"""

from __future__ import annotations

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
EVAL = "eval.json"
PRIOR_FIT = "prior.json"
ATTRIBUTES = "attributes.json"
ATTRIBUTE_WALKS = "attributes.png"
CARD = "README.md"
GRIDS = "grids"
SNAPSHOTS = "snapshots"
TWO_STAGE = "two_stage.safetensors"
TENSORBOARD = "tensorboard"
GRID_KINDS = ("recon", "samples")

# what a Hub model repository holds (never the checkpoint, with its optimizer state), and what
# loading one needs
PUBLISHED = [CONFIG, WEIGHTS, CARD, SUMMARY, EVAL, METRICS, ATTRIBUTES, f"{GRIDS}/*.png"]
DOWNLOADED = [CONFIG, WEIGHTS, CARD, SUMMARY]


def grid_name(kind: str, epoch: int) -> str:
    """A grid's path inside the run: ``grids/samples_epoch003.png`` (epochs count from 1)."""
    return f"{GRIDS}/{kind}_epoch{epoch:03d}.png"


def snapshot_name(epoch: int) -> str:
    return f"{SNAPSHOTS}/epoch-{epoch:04d}.safetensors"


def gmm_name(components: int) -> str:
    return f"gmm-{components}.json"
