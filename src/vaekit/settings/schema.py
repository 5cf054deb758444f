"""The settings schema: every training setting, once, for every front end.

``schema()`` lists each setting of ``vaekit train`` with its type, default, help, the entry that
owns it (None for the common ones) and, for a setting that picks a registry entry, each choice
with its one-line description. The command line's options, ``vaekit models``, the page's train
form (``GET /api/settings``) and the docs are all read from the same declarations
(``vaekit.settings``: the sections, and each registry entry's own ``settings``).
"""

from __future__ import annotations

import dataclasses
import typing

from vaekit.errors import flag
from vaekit.registry import BACKBONES, KERNELS, MODELS, OBJECTIVES, PRIORS, SAMPLERS, Registry, about
from vaekit.settings.entries import FALLBACK, entry_settings, knobs
from vaekit.settings.fields import names
from vaekit.settings.sections import SECTIONS
from vaekit.settings.train import TrainConfig

__all__ = ["choices_of", "describe", "schema"]


def _type_name(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    if args and type(None) in args:  # X | None
        return _type_name(next(a for a in args if a is not type(None)))
    return getattr(tp, "__name__", str(tp))


def choices_of(name: str) -> list[dict] | None:
    """The choices of a setting that picks from a list, each {"name", "about"} (None: free)."""
    field = {f.name: f for f in dataclasses.fields(TrainConfig)}.get(name)
    field = field or (knobs()[name].field if name in knobs() else None)
    choices = field.metadata.get("choices") if field is not None else None
    if choices is None:
        return None
    registry = choices if isinstance(choices, Registry) else None
    rows = [{"name": n, "about": about(registry[n]) if registry is not None else ""}
            for n in names(choices)]
    if name == "model":  # a kind's own objective and prior: what those left unset become
        for row in rows:
            kind = registry[row["name"]]
            row |= {k: getattr(kind, k) for k in FALLBACK if getattr(kind, k)}
    return rows


def _row(f: dataclasses.Field, tp, default, section: str, owner: dict | None) -> dict:
    row = {"name": f.name, "flag": f.metadata.get("flag") or flag(f.name), "type": _type_name(tp),
           "default": default, "help": f.metadata.get("help", ""), "section": section, "owner": owner,
           "choices": choices_of(f.name)}
    if f.name in FALLBACK:  # left unset: the model kind's own (see the model's choices), else this
        row["fallback"] = FALLBACK[f.name]
    return row


def schema() -> list[dict]:
    """Every setting of a training run, in the order of the help: the four sections' fields, then
    each registry entry's own settings, each a dict with name, flag, type, default, help,
    section, owner ({"setting": "objective", "entry": "tcvae"} or None), choices and, for the
    objective and the prior, the ``fallback`` they take when neither they nor the model kind
    name one."""
    rows = []
    for section in SECTIONS:
        hints = typing.get_type_hints(section)
        for f in dataclasses.fields(section):
            if not f.metadata.get("cli", True):
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            name = section.__name__.removesuffix("Settings").lower()
            rows.append(_row(f, hints[f.name], default, name, None))
    for name, knob in knobs().items():
        hints = typing.get_type_hints(entry_settings(knob.chooser, knob.entry))
        rows.append(_row(knob.field, hints[name], knob.default(), knob.chooser,
                         {"setting": knob.chooser, "entry": knob.entry}))
    return rows


def entries() -> dict[str, list[tuple[str, str]]]:
    """{registry: [(name, one line), ...]} for every registry a user picks from."""
    return {
        "models (--model)": [(n, about(k)) for n, k in MODELS.items()],
        "backbones (--backbone)": [(n, about(f)) for n, f in BACKBONES.items()],
        "priors (--prior)": [(n, about(p)) for n, p in PRIORS.items()],
        "objectives (--objective)": [(n, about(o)) for n, o in OBJECTIVES.items()],
        "MMD kernels (--mmd-kernel)": [(n, about(f)) for n, f in KERNELS.items()],
        "samplers (vaekit sample --sampler)": [(n, about(f)) for n, f in SAMPLERS.items()],
    }


def describe() -> str:
    """What ``vaekit models`` prints: every registry, one line per entry, each followed by its own
    settings (flag, default, help)."""
    owned: dict[tuple[str, str], list] = {}
    for knob in knobs().values():
        owned.setdefault((knob.chooser, knob.entry), []).append(knob)
    lines = []
    for title, rows in entries().items():
        lines.append(title)
        chooser = title.rsplit("(--", 1)[-1].rstrip(")")
        width = max(len(n) for n, _ in rows)
        for n, line in rows:
            lines.append(f"  {n:<{width}}  {line}")
            lines += [f"  {'':<{width}}    {flag(k.field.name)} {k.default()!r}: "
                      f"{k.field.metadata.get('help', '')}" for k in owned.get((chooser, n), [])]
    return "\n".join(lines)
