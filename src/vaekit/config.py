"""Settings: the one place each setting is declared, with its default, its help and its check.

Four sections -- data, model, optimisation, runtime -- are dataclasses holding the settings every
run has; a registry entry (an objective, a backbone, a prior, a model kind) declares its own
beside its function, with the same ``setting(...)`` fields. ``TrainConfig`` holds the sections'
fields and the chosen entries' settings (flat, as ``config.json``'s ``train`` section stores
them). Each field's metadata carries the help text and the rule its value must meet;
``__post_init__`` checks them all before any work is done, and the CLI's options, the page's form
and ``vaekit.settings.schema()`` are generated from the same fields, so a new setting is one field.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

from vaekit.errors import SettingError, VaekitError, flag

# Names a setting can take that no registry holds. This module imports nothing heavy (no torch),
# so the CLI is built and flags are checked before torch loads.
LR_SCHEDULES = ("onecycle", "constant", "iwae")
BINARIZE = ("none", "dynamic", "static")  # see vaekit.datasets.binarize
# One precision vocabulary everywhere (see vaekit.device); runs written before it was unified
# used Lightning's own spellings, which still load.
PRECISIONS = ("auto", "32", "bf16", "16")
LEGACY_PRECISIONS = {"32-true": "32", "bf16-mixed": "bf16", "16-mixed": "16"}
ACCELERATORS = ("auto", "cpu", "cuda", "mps")


def setting(default=None, help: str = "", *, check: Callable | None = None, expected: str = "",
            choices: Callable[[], object] | tuple | None = None, factory: Callable | None = None,
            flag: str | None = None, cli: bool = True):
    """A settings field. check(value) -> bool with ``expected`` saying what passes; choices: the
    allowed names, or a function returning a registry (read when checked, so registering a new
    entry needs no edit here); flag: the option's name when it is not ``--field-name``; cli: False
    keeps the field out of the generated options."""
    meta = {"help": help, "check": check, "expected": expected, "choices": choices, "flag": flag, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _registry(module: str, name: str) -> Callable[[], dict]:
    def get():
        import importlib

        return getattr(importlib.import_module(module), name)
    return get


MOST_WIDTH = 16384  # a layer width or latent size beyond any model this toolkit trains
MOST_SIDE = 1024  # image side: a 60-image folder at 100,000 px would need terabytes


def whole_number(value, low: int, high: int) -> bool:
    """True for a whole number (int or numpy integer, not a bool) in [low, high]: the check for
    sizes read from files (config.json, .vkz headers), which may have been edited."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and low <= value <= high


def _positive_widths(v) -> bool:
    return isinstance(v, list) and len(v) >= 1 and all(whole_number(h, 1, MOST_WIDTH) for h in v)


def int_in(low: int, most: int | None = None) -> Callable:
    """A check: a whole number from ``low`` to ``most`` (no upper bound when None)."""
    return lambda v: whole_number(v, low, float("inf") if most is None else most)


def non_negative(v) -> bool:
    """A check: a finite number >= 0."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf")


def weight(default: float, help: str):
    """A settings field for a term's weight: a finite number >= 0."""
    return setting(default, help, check=non_negative, expected="a number >= 0")


def _optional(check: Callable) -> Callable:
    return lambda v: v is None or check(v)


def _finite_positive(v) -> bool:
    return isinstance(v, (int, float)) and 0 < v < float("inf")


@dataclass
class DataSettings:
    """What to train on and how it is split."""

    data: str = setting("mnist", "Built-in data set (see `vaekit data list`) or an image folder.",
                        check=lambda v: isinstance(v, str) and v != "", expected="a data set name or folder")
    image_size: int | None = setting(
        None, "Center-crop and resize images to this square side (default: the data's own size; 64 for folders).",
        check=_optional(int_in(4, MOST_SIDE)), expected=f"an integer from 4 to {MOST_SIDE}")
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
                         choices=_registry("vaekit.models", "MODELS"))
    backbone: str = setting("mlp", "Encoder and decoder network; see `vaekit models`.",
                            choices=_registry("vaekit.models", "BACKBONES"))
    prior: str | None = setting(None, "Prior over the code (default: the model kind's own, else normal); see "
                                "`vaekit models`.",
                                choices=_registry("vaekit.models", "PRIORS"))
    latent_dim: int = setting(20, "Size of the latent code z.", check=int_in(1, MOST_WIDTH),
                              expected=f"an integer from 1 to {MOST_WIDTH}")
    hidden: list[int] = setting(factory=lambda: [400], help="MLP layer widths, comma-separated.",
                                check=_positive_widths, expected=f"one or more widths from 1 to {MOST_WIDTH}")
    channels: list[int] = setting(factory=lambda: [32, 64, 64, 64],
                                  help="Conv block widths, comma-separated (one stride-2 block each).",
                                  check=_positive_widths, expected=f"one or more widths from 1 to {MOST_WIDTH}")
    activation: str = setting("relu", "MLP nonlinearity.",
                              choices=_registry("vaekit.models", "ACTIVATIONS"))


@dataclass
class OptimSettings:
    """The objective and the optimiser."""

    objective: str | None = setting(None, "Training objective (default: the model kind's own, else elbo); see "
                                    "`vaekit models`.",
                                    choices=_registry("vaekit.objectives", "OBJECTIVES"))
    loss: str = setting("bce", "Reconstruction term.", choices=_registry("vaekit.losses", "RECON_LOSSES"))
    beta: float = weight(1.0, "Weight of the KL term (1 = the ELBO).")
    k: int = setting(1, "Posterior samples per image per step (iwae: the bound's k).",
                     check=int_in(1), expected="an integer >= 1", flag="--k")
    epochs: int | None = setting(
        None, "Passes over the training images (default: 10, more for small data sets so that training makes "
        "at least 2000 updates).", check=_optional(int_in(1)), expected="an integer >= 1")
    batch_size: int | None = setting(
        None, "Images per step per process (default: 256, halved down to 16 until an epoch has 20 steps).",
        check=_optional(int_in(1)), expected="an integer >= 1")
    lr: float = setting(6e-3, "Learning rate (the peak, for one-cycle).", check=_finite_positive,
                        expected="a finite number > 0")
    lr_schedule: str = setting("onecycle", "onecycle (warm up, then cosine down), constant, or iwae (Burda et al.'s "
                               "stages).", choices=LR_SCHEDULES)
    weight_decay: float = setting(0.0, "Adam weight decay.", check=lambda v: 0 <= v < float("inf"),
                                  expected="a number >= 0")
    adam_eps: float = setting(1e-8, "Adam's epsilon.", check=_finite_positive, expected="a finite number > 0")


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
        check=_optional(int_in(1)), expected="an integer >= 1")
    precision: str = setting("auto", "auto (bf16 where the hardware does bfloat16 natively, else 32), 32, bf16 "
                             "or 16 (float16 mixed, GPUs).", choices=PRECISIONS)
    progress: bool = setting(True, "Show the progress bar.")
    keep_every: int | None = setting(None, "Also keep the weights every N epochs in snapshots/ (for curves).",
                                     check=_optional(int_in(1)), expected="an integer >= 1")
    logger: list[str] = setting(factory=lambda: ["csv"], help="Experiment tracking, repeatable: csv (metrics.csv, always on), tensorboard (RUN/tensorboard/), mlflow (./mlruns or $MLFLOW_TRACKING_URI).",
                                check=lambda v: isinstance(v, list) and all(n in _registry("vaekit.loggers", "LOGGERS")() for n in v),
                                expected="csv, tensorboard or mlflow, one per --logger")


SECTIONS = (DataSettings, ModelSettings, OptimSettings, RuntimeSettings)


def _names(choices) -> tuple:
    return tuple(choices() if callable(choices) else choices)


def check_value(f: dataclasses.Field, value) -> None:
    """Raise SettingError when ``value`` is outside what settings field ``f`` accepts."""
    meta = f.metadata
    if meta.get("choices") is not None:
        names = _names(meta["choices"])
        if value not in names:
            raise SettingError(f.name, f"one of {', '.join(names)}", value)
    elif meta.get("check") is not None:
        try:
            ok = meta["check"](value)
        except TypeError:
            ok = False
        if not ok:
            raise SettingError(f.name, meta["expected"], value)


def check_fields(obj) -> None:
    """Raise SettingError for the first field of dataclass ``obj`` outside what it accepts.

    Fields checked against a registry come last: reading a registry imports the models (and
    torch), which a plain bad value need not wait for."""
    fields = sorted(dataclasses.fields(obj), key=lambda f: callable(f.metadata.get("choices")))
    for f in fields:
        if f.name != "knobs":
            check_value(f, getattr(obj, f.name))


# ---------------------------------------------------------------- settings owned by an entry
# A registry entry (an objective, a backbone, a prior, a model kind) may own settings: a small
# dataclass of ``setting(...)`` fields, attached to the entry as its ``settings`` attribute
# (``Objective(fn, settings=...)``, ``ModelKind(..., settings=...)``, a prior class's or a
# backbone function's ``settings``). They are read only when that entry is chosen; given with
# another entry they are refused. Each is found by walking the registries, so registering an
# entry is all it takes for its settings to reach the CLI, the page and config.json.
CHOOSERS = {  # the setting that picks an entry -> the registry it picks from
    "model": ("vaekit.models", "MODELS"),
    "backbone": ("vaekit.models", "BACKBONES"),
    "prior": ("vaekit.models", "PRIORS"),
    "objective": ("vaekit.objectives", "OBJECTIVES"),
}
MODEL_CHOOSERS = ("model", "backbone", "prior")  # the ones a saved model (ModelConfig) holds
# what an objective or prior left unset becomes when the model kind has none of its own
FALLBACK = {"objective": "elbo", "prior": "normal"}


def field_default(f: dataclasses.Field):
    """A settings field's default value (a fresh one for a list)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


@dataclass(frozen=True)
class Knob:
    """One entry-owned setting: the field, and the entry that owns it (``chooser`` its kind)."""

    field: dataclasses.Field
    chooser: str
    entry: str

    @property
    def owner(self) -> str:
        return f"the {self.entry} {self.chooser}"

    def default(self):
        return field_default(self.field)


def owns(settings: type) -> Callable:
    """Decorator: attach an entry's settings dataclass to a registered function (a backbone)."""
    def attach(fn):
        fn.settings = settings
        return fn
    return attach


def entry_settings(chooser: str, name: str) -> type | None:
    """The settings dataclass of entry ``name`` of ``chooser``'s registry (None: it has none)."""
    module, registry = CHOOSERS[chooser]
    entry = _registry(module, registry)().get(name)
    return getattr(entry, "settings", None)


def knobs() -> dict[str, Knob]:
    """Every entry-owned setting by name, in registry order. A name is owned once."""
    found: dict[str, Knob] = {}
    common = {f.name for section in SECTIONS for f in dataclasses.fields(section)}
    for chooser, (module, registry) in CHOOSERS.items():
        for name, entry in _registry(module, registry)().items():
            cls = getattr(entry, "settings", None)
            for f in dataclasses.fields(cls) if cls is not None else ():
                if f.name in common:
                    raise RuntimeError(f"the {name} {chooser} declares {f.name!r}, a setting every run has")
                if f.name in found:
                    raise RuntimeError(f"setting {f.name!r} is declared by {found[f.name].owner} and by "
                                       f"the {name} {chooser}: a setting has one owner")
                found[f.name] = Knob(f, chooser, name)
    return found


def resolve_knobs(given: dict, chosen: dict[str, str]) -> dict:
    """The chosen entries' settings: their defaults, overridden by ``given`` (checked).

    chosen: chooser -> entry name (e.g. {"objective": "tcvae", ...}). A given setting of an entry
    that is not chosen raises SettingError naming both; one nobody owns, a TypeError (as an
    unknown keyword does)."""
    owned = knobs()
    for name, value in given.items():
        knob = owned.get(name)
        if knob is None or knob.chooser not in chosen:
            raise TypeError(f"unexpected setting {name!r}")
        if chosen[knob.chooser] != knob.entry:
            raise SettingError(name, f"--{knob.chooser} {knob.entry}", f"--{knob.chooser} {chosen[knob.chooser]}",
                               f"{flag(name)} is a setting of {knob.owner}, but the {knob.chooser} is "
                               f"{chosen[knob.chooser]}")
        check_value(knob.field, value)
    values = {}
    for chooser, entry in chosen.items():
        cls = entry_settings(chooser, entry)
        for f in dataclasses.fields(cls) if cls is not None else ():
            values[f.name] = given[f.name] if f.name in given else field_default(f)
    return values


class EntryKnobs:
    """For a settings dataclass holding entry-owned settings in its ``knobs`` field: builds from
    keyword settings (those no field takes are knobs), and reads the chosen entries' settings as
    attributes (``cfg.tc_weight``). ``CHOSEN``: the fields that choose entries."""

    CHOSEN: tuple[str, ...] = ()

    def _init_fields(self, values: dict) -> None:
        given = dict(values.pop("knobs", None) or {})
        names = {f.name for f in dataclasses.fields(self)}
        given |= {k: values.pop(k) for k in list(values) if k not in names}
        for f in dataclasses.fields(self):  # every field of these dataclasses has a default
            if f.name != "knobs":
                setattr(self, f.name, values[f.name] if f.name in values else field_default(f))
        self.knobs = {k: v for k, v in given.items() if v is not None}  # None: not given

    def _resolve_knobs(self) -> None:
        chosen = {c: getattr(self, c) for c in self.CHOSEN}
        object.__setattr__(self, "_values", resolve_knobs(self.knobs, chosen))

    def __getattr__(self, name: str):
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        knob = knobs().get(name) if not name.startswith("_") else None
        if knob is not None:
            raise AttributeError(f"{name!r} is a setting of {knob.owner}, which this {type(self).__name__} "
                                 "does not choose")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __eq__(self, other) -> bool:  # the same settings, whether an entry's were given or defaulted
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    __hash__ = None

    def entry_values(self, choosers: tuple[str, ...] | None = None) -> dict:
        """The chosen entries' settings, name -> value (those of ``choosers`` only, if given)."""
        owned = knobs()
        return {k: copy.deepcopy(v) for k, v in self._values.items()
                if choosers is None or owned[k].chooser in choosers}

    def to_dict(self) -> dict:
        """A JSON-ready dict, flat: the fields, then the chosen entries' settings."""
        d = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "knobs"}
        return d | self.entry_values()

    @classmethod
    def _from_flat(cls, d: dict, choosers: tuple[str, ...]):
        """Settings read back from a file: entry settings of entries not chosen are dropped (files
        written before entries owned their settings hold every entry's, at their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        owned = knobs()
        keep = {}
        for k, v in d.items():
            if k in owned and owned[k].chooser in choosers:
                entry = d.get(owned[k].chooser)
                if entry is None and owned[k].chooser in FALLBACK:
                    keep[k] = v  # chosen by default: kept, checked once the default is known
                elif entry == owned[k].entry:
                    keep[k] = v
            elif k in names:
                keep[k] = v
        return keep


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
        from vaekit.models import MODELS

        own = MODELS.get(self.model) if isinstance(self.model, str) else None
        if self.objective is None:
            self.objective = own.objective if own is not None and own.objective else FALLBACK["objective"]
        if self.prior is None:
            self.prior = own.prior if own is not None and own.prior else FALLBACK["prior"]
        check_fields(self)
        self._resolve_knobs()
        from vaekit.objectives import OBJECTIVES

        OBJECTIVES[self.objective].check(self, self.objective)
        if own is not None and own.objective and self.objective != own.objective:
            raise SettingError("objective", f"{own.objective} for the {self.model} model", self.objective)
        from vaekit.models.priors import prior_problem

        # a prior that needs a kind of model says so now, before any data is read (vamp: a VAE)
        why = prior_problem(self.prior, self.model, MODELS[self.model].conditional)
        if why:
            raise SettingError("prior", why, self.prior)
        from vaekit.loggers import check_available

        check_available(self.logger)
        if self.denoise is not None:
            from vaekit.corrupt import parse_corruption

            self.denoise = parse_corruption(self.denoise).spec

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
# The estimators (vaekit.sklearn, vaekit.anomaly) are quiet unless asked, as scikit-learn's are.
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
