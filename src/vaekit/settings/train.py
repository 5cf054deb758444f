"""``TrainConfig``: everything a training run is made with, checked before any work is done.

It holds the four sections' fields (vaekit.settings.sections) and the chosen entries' own
settings (vaekit.settings.entries), flat, as ``config.json``'s ``train`` section stores them.
Choices are checked against the registries, and each entry's rules are asked through its
registry entry, so this layer names no model, objective or tracker of its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vaekit.errors import SettingError, VaekitError
from vaekit.registry import LOGGERS, MODELS, OBJECTIVES, PRIORS
from vaekit.settings.denoise import parse_denoise
from vaekit.settings.entries import CHOOSERS, FALLBACK, EntryKnobs, knobs
from vaekit.settings.fields import check_fields, field_default, setting
from vaekit.settings.sections import (
    LEGACY_PRECISIONS,
    DataSettings,
    ModelSettings,
    OptimSettings,
    RuntimeSettings,
)

# Settings that reproduce a paper's protocol; `vaekit train --preset NAME`, flags given on the
# command line override them.
PRESETS: dict[str, dict] = {
    # Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016), MNIST,
    # one stochastic layer: 784-200-200-50 with tanh, Bernoulli decoder, dynamic binarization,
    # Adam (eps 1e-4), batch 20, lr 1e-3 * 10^(-i/7) for 3^i epochs, i = 0..7 (3,280 epochs).
    # Add objective="iwae", k=50 for the IWAE column.
    "iwae": {"data": "mnist", "model": "vae", "backbone": "mlp", "hidden": [200, 200],
             "activation": "tanh", "latent_dim": 50, "loss": "bce", "binarize": "dynamic",
             "batch_size": 20, "lr": 1e-3, "lr_schedule": "iwae", "epochs": 3280, "adam_eps": 1e-4,
             "val_fraction": 0.005},
}


@dataclass(init=False, eq=False)
class TrainConfig(EntryKnobs, RuntimeSettings, OptimSettings, ModelSettings, DataSettings):
    """Everything ``vaekit train`` / ``vaekit.fit`` needs; saved in the run's config.json.

    The fields are those of the four sections (``DataSettings``, ``ModelSettings``,
    ``OptimSettings``, ``RuntimeSettings``), each with its help text. Defaults are the fast
    everyday setting (batch 256, one-cycle LR peaking at 6e-3); the tutorial protocol is
    ``batch_size=128, lr=1e-3, lr_schedule="constant"``. ``epochs`` and ``batch_size`` left as
    None are sized to the data by ``resolve_length``. Validated when built: a bad value raises
    SettingError naming the field, before any work is done.

    The settings of the chosen model kind, backbone, prior and objective (``tc_weight`` of the
    tcvae objective, ``attention`` of the resnet backbone, ...) are keyword settings too, read as
    attributes; ``knobs`` holds those given. One of an entry not chosen is refused.
    """

    CHOSEN = tuple(CHOOSERS)
    knobs: dict = setting(factory=dict, help="The chosen entries' settings that were given.", cli=False)

    def __init__(self, **values):
        self._init_fields(values)
        self.__post_init__()

    def __post_init__(self):
        self.precision = LEGACY_PRECISIONS.get(self.precision, self.precision)
        own = MODELS.get(self.model) if isinstance(self.model, str) else None
        if self.objective is None:
            self.objective = own.objective if own is not None and own.objective else FALLBACK["objective"]
        if self.prior is None:
            self.prior = own.prior if own is not None and own.prior else FALLBACK["prior"]
        check_fields(self)
        self._resolve_knobs()
        OBJECTIVES[self.objective].check(self, self.objective)
        if own.objective and self.objective != own.objective:
            raise SettingError("objective", f"{own.objective} for the {self.model} model", self.objective)
        # a prior that needs a kind of model says so now, before any data is read (vamp: a VAE)
        why = prior_problem(self.prior, self.model)
        if why:
            raise SettingError("prior", why, self.prior)
        for name in self.logger:  # a tracker whose package is missing, before the run starts
            LOGGERS[name].check(name)
        if self.denoise is not None:
            self.denoise = ":".join(parse_denoise(self.denoise))

    def section(self, cls) -> object:
        """One section's settings, e.g. ``cfg.section(ModelSettings)``."""
        return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(cls)})

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Rebuild from ``to_dict()`` output (older runs lack later fields: defaults fill them;
        keys this version does not know are ignored)."""
        if not isinstance(d, dict):
            raise VaekitError(f"expected a JSON object of settings, got {type(d).__name__}", "train")
        try:
            return cls(**cls._from_flat(d, tuple(CHOOSERS)))
        except TypeError as e:
            raise VaekitError(f"settings do not fit ({e})", "train") from None

    @classmethod
    def from_preset(cls, name: str, **overrides) -> TrainConfig:
        """A preset's settings (see ``PRESETS``) with ``overrides`` on top."""
        if name not in PRESETS:
            raise SettingError("preset", f"one of {', '.join(PRESETS)}", name)
        return cls(**{**PRESETS[name], **overrides})


# Commands whose purpose wants other defaults for a few settings; stated here, beside the
# settings, so every default has one home. The comparison wants a 2-D code (scatter plots, the
# manifold) and a deeper MLP: on MNIST with 30 epochs the VAE's prior samples score Fréchet
# distance 160 with 784-512-512-2 against 310 with the tutorials' 784-400-2. Anomaly detection
# measured best with a 64-d code (Fashion-MNIST one-class AUC, benchmarks/RESULTS.md).
COMPARE_DEFAULTS = {"latent_dim": 2, "hidden": [512, 512]}
ANOMALY_DEFAULTS = {"latent_dim": 64}
# The scikit-learn transformer's codes are features for the next estimator: 16 of them took a
# logistic regression to 0.883 MNIST test accuracy (README), where the everyday 20 adds
# dimensions the next estimator must learn weights for.
TRANSFORMER_DEFAULTS = {"latent_dim": 16}
# The estimators (vaekit.sklearn, vaekit.tasks.anomaly) are quiet unless asked, as scikit-learn's are.
ESTIMATOR_DEFAULTS = {"progress": False}
# The page's train form starts from the comparison's 2-D code: a run trained there shows in the
# page's latent views (scatter, walks, the manifold) as it is, without a projection.
PAGE_DEFAULTS = COMPARE_DEFAULTS

SETTINGS_FILES = (".toml", ".yaml", ".yml", ".json")


def read_settings_file(path) -> dict:
    """Training settings from a TOML, YAML or JSON file: field name -> value, checked by name.

    A run's own config.json works too: its ``train`` section is used, without ``out`` (so the
    repeat gets a folder of its own). VaekitError naming the file and the key on anything else.
    """
    import json
    from pathlib import Path

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SETTINGS_FILES:
        raise VaekitError(f"{path}: expected a {', '.join(SETTINGS_FILES)} file", "config")
    try:
        text = path.read_text()
    except OSError as e:
        raise VaekitError(f"{path}: cannot read ({e.strerror})", "config") from None
    try:
        if suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        elif suffix == ".json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 -- each parser has its own error type; all mean "malformed"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VaekitError(f"{path}: not valid {suffix[1:].upper()} ({first})", "config") from None
    if not isinstance(values, dict):
        raise VaekitError(f"{path}: expected a table of settings, got {type(values).__name__}", "config")
    if isinstance(values.get("train"), dict) and "model" in values:  # a run's config.json
        values = TrainConfig._from_flat({k: v for k, v in values["train"].items() if k != "out"},
                                        tuple(CHOOSERS))
    known = ({f.name for f in dataclasses.fields(TrainConfig)} - {"knobs"}) | set(knobs())
    unknown = sorted(set(values) - known)
    if unknown:
        raise VaekitError(f"{path}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})",
                          "config")
    try:  # a bad value is named as this file's, not as the flag the user never typed
        TrainConfig(**values)
    except SettingError as e:
        if e.setting in values:
            raise VaekitError(f"{path}: {e.setting}: {e.message}", "config") from None
    return values


def overlay(base: dict, given: dict) -> dict:
    """Settings ``given`` (typed flags) over ``base`` ones (a preset, a settings file). An entry
    chosen in ``given`` replaces the base's choice together with that choice's own settings: a
    tcvae run's config.json repeated with ``--objective elbo`` drops the file's ``tc_weight``
    rather than refuse it (typed, it is still refused)."""
    owned = knobs()
    replaced = {name for name, knob in owned.items()
                if knob.chooser in given and given[knob.chooser] != knob.entry and name not in given}
    return {k: v for k, v in base.items() if k not in replaced} | given


MIN_STEPS = 2000  # updates a default-length run gets at least (matters for small data sets)
MIN_STEPS_PER_EPOCH = 20


def resolve_length(cfg: TrainConfig, n_train: int, world: int = 1) -> TrainConfig:
    """Fill in a batch size and epoch count left unset, from the number of training images.

    batch size: 256, halved (down to 16) until an epoch has at least 20 steps per process.
    epochs: 10, or more so that the run makes at least 2000 updates (400 faces need ~90 epochs).
    """
    per_rank = max(1, n_train // world)
    batch = cfg.batch_size
    if batch is None:
        batch = 256
        while batch > 16 and per_rank // batch < MIN_STEPS_PER_EPOCH:
            batch //= 2
    epochs = cfg.epochs
    if epochs is None:
        steps = -(-per_rank // batch)
        epochs = max(10, -(-MIN_STEPS // steps))
    return dataclasses.replace(cfg, batch_size=batch, epochs=epochs)


def default(name: str, command: dict | None = None):
    """A setting's default, from its one declaration (a section's field or an entry's own);
    ``command``: a command's or an estimator's own defaults (``ANOMALY_DEFAULTS``, ...), which
    win. Lists come back as tuples, as scikit-learn wants an estimator's defaults."""
    if command and name in command:
        value = command[name]
    else:
        fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
        value = field_default(fields[name]) if name in fields else knobs()[name].default()
    return tuple(value) if isinstance(value, list) else value


def prior_problem(prior: str, model: str) -> str | None:
    """Why a model of kind ``model`` cannot have ``prior`` (a model kind may name the only prior
    it takes; a prior may say, through its static ``check(model, conditional)``), or None."""
    kind = MODELS[model]
    if kind.prior is not None and prior != kind.prior:
        return f"{kind.prior} for the {model} model"
    check = getattr(PRIORS[prior], "check", None)
    return check(model, kind.conditional) if check is not None else None
