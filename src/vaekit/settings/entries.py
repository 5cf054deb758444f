"""Settings owned by a registry entry, and the knob machinery that reads them.

A registry entry (an objective, a backbone, a prior, a model kind) may own settings: a small
dataclass of ``setting(...)`` fields, attached to the entry as its ``settings`` attribute
(``Objective(fn, settings=...)``, ``ModelKind(..., settings=...)``, a prior class's or a
backbone function's ``settings``). They are read only when that entry is chosen; given with
another entry they are refused. Each is found by walking the registries, so registering an
entry is all it takes for its settings to reach the CLI, the page and config.json.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from vaekit.errors import SettingError, flag
from vaekit.registry import BACKBONES, MODELS, OBJECTIVES, PRIORS
from vaekit.settings.fields import check_value, field_default
from vaekit.settings.sections import SECTIONS

CHOOSERS = {"model": MODELS, "backbone": BACKBONES, "prior": PRIORS,  # the setting that picks an entry
            "objective": OBJECTIVES}                                 # -> the registry it picks from
MODEL_CHOOSERS = ("model", "backbone", "prior")  # the ones a saved model (ModelConfig) holds
# what an objective or prior left unset becomes when the model kind has none of its own
FALLBACK = {"objective": "elbo", "prior": "normal"}


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
    entry = CHOOSERS[chooser].get(name)
    return getattr(entry, "settings", None)


def knobs() -> dict[str, Knob]:
    """Every entry-owned setting by name, in registry order. A name is owned once."""
    found: dict[str, Knob] = {}
    common = {f.name for section in SECTIONS for f in dataclasses.fields(section)}
    for chooser, registry in CHOOSERS.items():
        for name, entry in registry.items():
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
            raise SettingError(name, f"--{knob.chooser} {knob.entry}",
                               f"--{knob.chooser} {chosen[knob.chooser]}",
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
        d = {f.name: copy.deepcopy(getattr(self, f.name))
             for f in dataclasses.fields(self) if f.name != "knobs"}
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
