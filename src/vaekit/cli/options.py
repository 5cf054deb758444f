"""Command-line options generated from the settings dataclasses (``vaekit.settings``).

``@settings_options(TrainConfig, only=..., defaults=...)`` on a Typer command adds one option per
settings field -- its name (``latent_dim`` -> ``--latent-dim``), default and help come from the
field -- and hands the command the parsed values as ``settings``: a dict of field name -> value
(lists typed as ``400,200`` parsed to ``[400, 200]``). A new setting is one field in vaekit.settings;
every command that takes it gets the same option.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Annotated

import typer

from vaekit.settings import field_default, parse_ints


def _base(tp):
    """(base type, optional) of an annotation: ``int | None`` -> (int, True)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def _knob_option(knob) -> inspect.Parameter:
    """The option of an entry-owned setting: default None (not given: the entry's own default,
    shown in the help), listed under its entry's heading."""
    from vaekit.settings import entry_settings

    hints = typing.get_type_hints(entry_settings(knob.chooser, knob.entry))
    base, _ = _base(hints[knob.field.name])
    decls = [knob.field.metadata["flag"]] if knob.field.metadata.get("flag") else []
    info = typer.Option(*decls, help=_help(knob.field), show_default=str(knob.default()),
                        rich_help_panel=f"Settings of the {knob.entry} {knob.chooser}")
    return inspect.Parameter(knob.field.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[base | None, info])


def _help(f: dataclasses.Field) -> str:
    """The field's help, with the names a registry-backed setting takes read from the registry."""
    text, choices = f.metadata.get("help", ""), f.metadata.get("choices")
    if callable(choices):
        text += f" One of: {', '.join(choices())}."
    return text


def _option(f: dataclasses.Field, hints: dict, default) -> inspect.Parameter:
    base, optional = _base(hints[f.name])
    if typing.get_origin(base) is list and typing.get_args(base)[0] is str:  # a repeatable flag
        decls = [f.metadata["flag"]] if f.metadata.get("flag") else []
        info = typer.Option(*decls, help=_help(f))
        return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=list(default or []),
                                 annotation=Annotated[list[str], info])
    is_list = typing.get_origin(base) is list
    cli_type = str if is_list else base
    if optional or (is_list and default is None):
        cli_type = cli_type | None
    if is_list and default is not None:
        default = ",".join(str(v) for v in default)
    decls = [f.metadata["flag"]] if f.metadata.get("flag") else []
    info = typer.Option(*decls, help=_help(f))
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[cli_type, info])


def settings_options(config_cls, only: list[str] | None = None, exclude: tuple[str, ...] = (),
                     defaults: dict | None = None):
    """Decorate a command so it takes ``config_cls``'s fields as options.

    only/exclude: which fields (default: all with ``cli`` metadata true). defaults: this
    command's own defaults for some fields (stated where the command is declared). The command
    receives ``settings`` (a ``Settings`` dict: field -> parsed value, ``.typed``: those typed).
    """
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls) if f.metadata.get("cli", True)}
    names = [n for n in (only or fields) if n not in exclude]
    defaults = defaults or {}

    generated = [_option(fields[n], hints, defaults[n] if n in defaults else field_default(fields[n]))
                 for n in names if n in fields]
    if getattr(config_cls, "CHOSEN", None):  # the chosen entries' own settings, by entry
        from vaekit.settings import knobs

        owned = knobs()
        chosen = set(config_cls.CHOSEN)
        generated += [_knob_option(k) for n, k in owned.items()
                      if k.chooser in chosen and n not in exclude and (only is None or n in only)]
        names = [n for n in names if n in fields] + [p.name for p in generated if p.name not in fields]

    def decorate(fn):
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "settings"]

        def command(_ctx: typer.Context, **kwargs):
            settings = Settings()
            for n in names:
                value = kwargs.pop(n)
                if n in hints and typing.get_origin(_base(hints[n])[0]) is list and isinstance(value, str):
                    value = parse_ints(value, n)
                elif isinstance(value, tuple):  # a repeatable flag
                    value = list(value)
                settings[n] = value
                source = _ctx.get_parameter_source(n)
                if source is not None and source.name != "DEFAULT":
                    settings.typed.add(n)
            return fn(settings=settings, **kwargs)

        command.__name__, command.__doc__, command.__module__ = fn.__name__, fn.__doc__, fn.__module__
        context = inspect.Parameter("_ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
        command.__signature__ = inspect.Signature([context] + own + generated)
        return command

    return decorate


class Settings(dict):
    """Field name -> value, plus ``typed``: the names whose value was typed on the command line
    (or set in the environment) rather than left at the default."""

    def __init__(self):
        super().__init__()
        self.typed: set[str] = set()
