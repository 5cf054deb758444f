"""A setting's declaration: ``setting(default, help, check=...)`` fields, and the checks they use.

A settings field carries its help text and the rule its value must meet in its metadata; the
sections (vaekit.settings.sections), each registry entry's own settings and the CLI, the page and
the schema all read the same fields. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Iterable
from dataclasses import field

from vaekit.errors import SettingError
from vaekit.registry import Registry


def setting(default=None, help: str = "", *, check: Callable | None = None, expected: str = "",
            choices: Iterable[str] | None = None, factory: Callable | None = None,
            flag: str | None = None, cli: bool = True):
    """A settings field. check(value) -> bool with ``expected`` saying what passes; choices: the
    allowed names, or a registry (read when checked, so registering a new entry needs no edit
    here); flag: the option's name when it is not ``--field-name``; cli: False
    keeps the field out of the generated options."""
    meta = {"help": help, "check": check, "expected": expected, "choices": choices, "flag": flag, "cli": cli}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)



MOST_WIDTH = 16384  # a layer width or latent size beyond any model this toolkit trains
MOST_SIDE = 1024  # image side: a 60-image folder at 100,000 px would need terabytes


def whole_number(value, low: int, high: int) -> bool:
    """True for a whole number (int or numpy integer, not a bool) in [low, high]: the check for
    sizes read from files (config.json, .vkz headers), which may have been edited."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and low <= value <= high


def positive_widths(v) -> bool:
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


def optional(check: Callable) -> Callable:
    return lambda v: v is None or check(v)


def finite_positive(v) -> bool:
    return isinstance(v, (int, float)) and 0 < v < float("inf")



def names(choices) -> tuple:
    """The names a setting's ``choices`` allow."""
    return tuple(choices)


def check_value(f: dataclasses.Field, value) -> None:
    """Raise SettingError when ``value`` is outside what settings field ``f`` accepts."""
    meta = f.metadata
    if meta.get("choices") is not None:
        allowed = names(meta["choices"])
        if value not in allowed:
            raise SettingError(f.name, f"one of {', '.join(allowed)}", value)
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
    fields = sorted(dataclasses.fields(obj), key=lambda f: isinstance(f.metadata.get("choices"), Registry))
    for f in fields:
        if f.name != "knobs":
            check_value(f, getattr(obj, f.name))


def field_default(f: dataclasses.Field):
    """A settings field's default value (a fresh one for a list)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default



def parse_ints(text: str, setting: str, example: str = "400,200") -> list[int]:
    """Parse a comma-separated list of integers; SettingError naming ``setting`` otherwise."""
    if not text.strip():
        raise SettingError(setting, "at least one integer", text)
    try:  # a trailing comma is forgiven; an empty item inside ("8,,8") is a typo, not a width
        values = [int(v) for v in text.strip().rstrip(",").split(",")]
    except ValueError:
        raise SettingError(setting, f"comma-separated integers like {example}", text) from None
    return values
