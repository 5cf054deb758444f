"""``Run``: one trained run folder, with everything about it loaded on first use and kept.

    >>> run = vaekit.Run.open("runs/mnist-vae-mlp-z20-...")
    >>> run.settings.latent_dim, run.class_names, run.summary["test_loss"]
    >>> images = run.sample(64, sampler="gmm")          # (64, C, H, W) in [0, 1]
    >>> test = run.splits.test                           # the split it was trained with

Every command and the Python API reach a run through this object: the config is read once,
the model is loaded once (in eval mode), the data is reloaded and split as in training only
when asked for. Samplers (``SAMPLERS``: the prior, a mixture fitted to the training codes) are
registered by name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from functools import cached_property
from pathlib import Path

import torch

from vaekit.errors import SettingError, VaekitError
from vaekit.models import ModelConfig
from vaekit.registry import SAMPLERS
from vaekit.run import layout
from vaekit.run.checkpoint import load, model_config, read_config
from vaekit.settings import TrainConfig


class Run:
    """A run folder (config.json + model.safetensors + the rest; the files: vaekit.run.layout).
    Every read of a run's files goes through this object."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def open(cls, path) -> Run:
        """Open a run folder, or ``hf://ORG/NAME`` on the Hugging Face Hub (downloaded), or pass a
        Run through; VaekitError when it is not one."""
        if isinstance(path, Run):
            return path
        from vaekit.run.fetch import download, is_hub

        run = cls(download(path) if is_hub(path) else path)
        if not (run.path / layout.CONFIG).is_file():
            raise VaekitError(f"{run.path}: not a vaekit run folder (no {layout.CONFIG})")
        return run

    @staticmethod
    def find(folder: str | Path = "runs") -> list[dict]:
        """One row per run folder below ``folder`` (what ``vaekit runs`` prints; see
        vaekit.run.find)."""
        from vaekit.run.find import find_runs

        return find_runs(folder)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ what it is
    @cached_property
    def config(self) -> dict:
        """config.json as a dict: ``model``, ``train`` and ``data`` sections."""
        return read_config(self.path)

    @cached_property
    def settings(self) -> TrainConfig:
        """The training settings it was made with (checked as new ones would be)."""
        if not isinstance(self.config.get("train"), dict):
            raise VaekitError(f"{self.path / layout.CONFIG}: no training settings (its train section is "
                              "missing); the run cannot be reloaded or resumed -- train it again")
        try:
            return TrainConfig.from_dict(self.config["train"])
        except VaekitError as e:
            raise VaekitError(f"{self.path / layout.CONFIG}: {e}") from None

    @cached_property
    def model_config(self) -> ModelConfig:
        return model_config(self.path, self.config)

    @cached_property
    def model(self):
        """The trained model, loaded once, in eval mode on the CPU."""
        return load(self.path)

    @property
    def class_names(self) -> list[str]:
        return list(self.config.get("data", {}).get("class_names") or [])

    @property
    def summary(self) -> dict:
        """summary.json (test numbers, training time), or {} for a run still training."""
        return self._json(layout.SUMMARY)

    @property
    def eval(self) -> dict:
        """eval.json (``vaekit evaluate``'s numbers), or {} before an evaluation."""
        return self._json(layout.EVAL)

    @property
    def prior_fit(self) -> dict:
        """prior.json (a VQ-VAE's PixelCNN fit, ``vaekit train-prior``), or {}."""
        return self._json(layout.PRIOR_FIT)

    @property
    def attributes(self) -> dict:
        """attributes.json (``vaekit attributes``: each named attribute's direction in the codes,
        its probe and their checks; ``attributes`` maps name -> those), or {} before any."""
        return self._json(layout.ATTRIBUTES)

    def describe(self, image) -> dict[str, float]:
        """How plainly one image shows each attribute found for this run: {name: the probe's
        probability, 0..1}. image: a test index, an image file, or a (C, H, W) tensor in [0, 1]."""
        from vaekit.models.inference import encode

        found = self.attributes.get("attributes")
        if not found:
            raise VaekitError(f"{self.path}: no attributes found yet; run `vaekit attributes {self.path}` "
                              "with labelled images first")
        x = image if isinstance(image, torch.Tensor) else self.image(image, "image")
        code = encode(self.model, x[None].float())[0][0].double()
        out = {}
        for name, a in found.items():
            logit = code @ torch.tensor(a["probe"]["weights"], dtype=torch.float64) + a["probe"]["bias"]
            out[name] = float(torch.sigmoid(logit))
        return out

    @property
    def finished(self) -> bool:
        """Whether training ended (summary.json is written last)."""
        return (self.path / layout.SUMMARY).is_file()

    @property
    def resumable(self) -> bool:
        """Whether a resume checkpoint is there."""
        return (self.path / layout.CHECKPOINT).is_file()

    def _json(self, name: str) -> dict:
        """A JSON file of the run as a dict: {} when it is missing, or unreadable (a file being
        replaced, or damaged: the readers show what is there rather than fail)."""
        try:
            value = json.loads((self.path / name).read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def metrics(self) -> dict:
        """metrics.csv as {"columns": [...], "rows": [[numbers, None where not finite]]} (empty
        while the first epoch runs; a row being written is left out)."""
        try:
            rows = list(csv.reader(io.StringIO((self.path / layout.METRICS).read_text())))
        except OSError:
            rows = []
        if not rows:
            return {"columns": [], "rows": []}

        def number(v: str):
            try:
                f = float(v)
            except ValueError:
                return None
            return f if math.isfinite(f) else None
        columns = rows[0]
        return {"columns": columns,
                "rows": [[number(v) for v in r] for r in rows[1:] if len(r) == len(columns)]}

    def grid_epochs(self, kind: str | None = None) -> list[int]:
        """The epochs (from 1) with a saved grid (of ``kind``: recon or samples; None: either)."""
        pattern = f"{kind or '*'}_epoch*.png"
        return sorted({int(m.group(1)) for p in (self.path / layout.GRIDS).glob(pattern)
                       if (m := re.search(r"_epoch(\d+)\.png$", p.name))})

    def grid(self, kind: str, epoch: int) -> Path:
        """Where the ``kind`` grid (recon or samples) of ``epoch`` is (it may not exist yet)."""
        if kind not in layout.GRID_KINDS:
            raise SettingError("kind", f"one of {', '.join(layout.GRID_KINDS)}", kind)
        return self.path / layout.grid_name(kind, epoch)

    # ------------------------------------------------------------------ its data
    @cached_property
    def _data_splits(self):
        from vaekit.run.data import run_data

        return run_data(self)

    @property
    def data(self):
        """The data set it was trained on, at its image size (``vaekit.datasets.Dataset``)."""
        return self._data_splits[0]

    @property
    def splits(self):
        """train / val / test splits, exactly as in training (``vaekit.datasets.Splits``)."""
        return self._data_splits[1]

    def class_index(self, spec: str | int) -> int:
        """A class given by name or index -> its index; SettingError on ``class_`` otherwise."""
        self._need_conditional()
        names = self.class_names
        spec = str(spec)
        if spec in names:
            return names.index(spec)
        if spec.isdigit() and int(spec) < max(len(names), 1):
            return int(spec)
        raise SettingError("class_", f"one of {', '.join(names) or 'the class indices'}", spec)

    def _need_conditional(self) -> None:
        if not self.model_config.conditional:
            raise VaekitError(f"{self.path} is not a conditional model; train one with --model cvae",
                              "class_")

    def image(self, spec: str | int, setting: str | None = None) -> torch.Tensor:
        """One image (C, H, W) in [0, 1]: an index into the test split, or an image file fitted to
        the model's shape. ``setting``: the option the spec came from, named in any error."""
        from vaekit.datasets import to_float
        from vaekit.datasets.images import load_images

        try:
            if isinstance(spec, int) or str(spec).isdigit():
                test = self.splits.test
                if int(spec) >= len(test):
                    raise VaekitError(f"image index {spec} is past the end of the test split "
                                      f"({len(test)} images)")
                return to_float(test.take(torch.tensor([int(spec)])))[0]
            return load_images([spec], self.model_config.image_shape)[0]
        except VaekitError as e:
            if setting is None or e.setting is not None:
                raise
            raise VaekitError(e.message, setting) from None

    # ------------------------------------------------------------------ generating
    def gmm(self, components: int = 10, seed: int = 0) -> dict:
        """A Gaussian mixture fitted to the training split's codes, fitted once and cached in the
        run folder as ``gmm-K.json`` (the run's own cache)."""
        from vaekit.files import write_json
        from vaekit.run.samplers import GMM_CODES, fit_code_gmm

        path = self.path / layout.gmm_name(components)
        if path.is_file():
            try:
                cached = json.loads(path.read_text())
                if isinstance(cached, dict) and cached.get("codes") == GMM_CODES:
                    return cached
            except json.JSONDecodeError:
                pass  # a damaged cache (or one fitted to other codes) is refitted below
        gmm = fit_code_gmm(self.model, self.splits.train, components, seed)
        write_json(path, gmm)
        return gmm

    @property
    def default_sampler(self) -> str:
        """The sampler ``codes`` and ``sample`` use unless told: the objective's own (gmm for the rae
        and sharp objectives, whose codes stray from N(0, I)); prior for a conditional model, and
        for a folder with a model and no training settings."""
        from vaekit.registry import OBJECTIVES

        train = self.config.get("train")
        objective = train.get("objective") if isinstance(train, dict) else None
        if self.model_config.conditional or objective not in OBJECTIVES:
            return "prior"
        return OBJECTIVES[objective].sampler

    def codes(self, n: int, sampler: str | None = None, seed: int = 0, **options) -> torch.Tensor:
        """``n`` codes (n, D) from a registered sampler (``SAMPLERS``; None: ``default_sampler``)."""
        sampler = sampler or self.default_sampler
        if sampler not in SAMPLERS:
            raise SettingError("sampler", f"one of {', '.join(SAMPLERS)}", sampler)
        return SAMPLERS[sampler](self, n, seed, **options)

    def sample(self, n: int, sampler: str | None = None, seed: int = 0, labels: torch.Tensor | None = None,
               **options) -> torch.Tensor:
        """Decode ``n`` sampled codes: (n, C, H, W) in [0, 1]. sampler: a registered one (None: the
        objective's own, ``default_sampler``). labels (n,): the classes to generate, for a
        conditional model (default: every class in turn)."""
        from vaekit.models.inference import decode

        sampler = sampler or self.default_sampler
        if n < 1:
            raise SettingError("n", "an integer >= 1", n)
        model = self.model
        if labels is not None:
            self._need_conditional()
        if model.conditional:
            if sampler != "prior":
                raise SettingError("sampler", "prior for a conditional model (sample each class instead)",
                                   sampler)
            if labels is None:
                labels = model.default_labels(n)
        return decode(model, self.codes(n, sampler, seed, **options), labels)
