"""Experiment trackers beside ``metrics.csv``: TensorBoard and MLflow, chosen with ``--logger``.

A tracker sees a run through three calls from the trainer (main process only):

    start(run_dir, config)          the run's config.json as a dict (resumes call it again)
    epoch(row, grids)               one metrics.csv row (every named term, lr, seconds) and the
                                    epoch's grid PNGs {"recon": path, "samples": path}
    finish(summary, embedding)      summary.json, and (codes (N, D), labels (N,) or None,
                                    thumbnails (N, C, H, W)) of test images for an embedding view

``csv`` is always on (the trainer writes metrics.csv itself); the others need their package,
installed with ``pip install 'vaekit[tensorboard]'`` or ``'vaekit[mlflow]'``, and a missing one
stops the run before anything is written.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaekit.errors import VaekitError
from vaekit.registry import LOGGERS
from vaekit.run.layout import GRIDS, TENSORBOARD

SPRITE_PIXELS = 8192  # TensorBoard's projector refuses sprites larger than this on a side
EMBEDDED = 1000  # test codes shown in the projector at most


class TensorBoard:
    """Event files in RUN/tensorboard/: scalars per term and split, the grids each epoch, and the
    test codes with their image thumbnails in the projector."""

    def start(self, run_dir: Path, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / TENSORBOARD))
        self.writer.add_text("config", "```\n" + _json(config) + "\n```", 0)

    def epoch(self, row: dict, grids: dict[str, Path]) -> None:
        from PIL import Image

        step = int(row["epoch"])
        for key, value in row.items():
            if key == "epoch":
                continue
            split, _, term = key.partition("_")
            tag = f"{term}/{split}" if split in ("train", "val") else key
            self.writer.add_scalar(tag, value, step)
        for name, path in grids.items():
            with Image.open(path) as im:
                self.writer.add_image(f"grids/{name}", np.asarray(im.convert("RGB")), step, dataformats="HWC")
        self.writer.flush()

    def finish(self, summary: dict, embedding) -> None:
        for key, value in summary.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"summary/{key}", value, 0)
        if embedding is not None:
            codes, labels, thumbs = embedding
            side = thumbs.shape[-2]
            n = min(len(codes), EMBEDDED, (SPRITE_PIXELS // max(side, thumbs.shape[-1])) ** 2)
            meta = [str(int(v)) for v in labels[:n]] if labels is not None else None
            self.writer.add_embedding(codes[:n], metadata=meta, label_img=thumbs[:n], tag="test codes")
        self.writer.close()


class MLflow:
    """An MLflow run (tracking URI: $MLFLOW_TRACKING_URI, else ./mlruns): the config as params,
    the same metrics per epoch, the grids, and at the end the run folder as artifacts. A resumed
    run continues the same MLflow run (its id is kept in RUN/mlflow_run_id)."""

    def start(self, run_dir: Path, config: dict) -> None:
        import mlflow

        self.run_dir = run_dir
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            # the promised default, a folder beside the runs; MLflow 3 asks for this opt-in before
            # it writes one (a database backend: set MLFLOW_TRACKING_URI=sqlite:///mlflow.db)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            mlflow.set_tracking_uri((Path.cwd() / "mlruns").as_uri())
        id_file = run_dir / "mlflow_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        mlflow.set_experiment("vaekit")
        self.active = mlflow.start_run(run_id=run_id, run_name=run_dir.name)
        if run_id is None:
            id_file.write_text(self.active.info.run_id + "\n")
            mlflow.log_params({k: str(v)[:500] for k, v in _flat(config).items()})

    def epoch(self, row: dict, grids: dict[str, Path]) -> None:
        import mlflow

        step = int(row["epoch"])
        mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch" and math.isfinite(v)},
                           step=step)
        for path in grids.values():
            mlflow.log_artifact(str(path), artifact_path=GRIDS)

    def finish(self, summary: dict, embedding) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in summary.items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
        mlflow.log_artifacts(str(self.run_dir), artifact_path="run")
        mlflow.end_run()


@dataclass(frozen=True)
class Tracker:
    """A registered tracker: the class, the package it needs and the extra that installs it."""

    make: type | None
    package: str | None = None
    extra: str | None = None

    def check(self, name: str) -> None:
        """VaekitError naming ``--logger`` when this tracker (registered as ``name``) needs a package
        that is not installed."""
        if self.package and importlib.util.find_spec(self.package) is None:
            raise VaekitError(f"{name} needs the {self.package} package: pip install 'vaekit[{self.extra}]'",
                              "logger")


LOGGERS.update({
    "csv": Tracker(None),
    "tensorboard": Tracker(TensorBoard, "tensorboard", "tensorboard"),
    "mlflow": Tracker(MLflow, "mlflow", "mlflow"),
})


def start_trackers(names: list[str], run_dir: Path, config: dict) -> list:
    """The chosen trackers (csv needs none), started; VaekitError naming ``--logger`` when one
    cannot start (a tracking server out of reach, a refused store)."""
    trackers = []
    for name in dict.fromkeys(names):
        if LOGGERS[name].make is None:
            continue
        tracker = LOGGERS[name].make()
        try:
            tracker.start(Path(run_dir), config)
        except Exception as e:  # noqa: BLE001 -- any tracker failure is reported the same way
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise VaekitError(f"{name} could not start: {first}", "logger") from None
        trackers.append(tracker)
    return trackers


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def _json(d: dict) -> str:
    import json

    return json.dumps(d, indent=1, default=str)
