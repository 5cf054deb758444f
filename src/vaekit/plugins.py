"""Plugins: modules that register entries (an objective, a backbone, a prior, a model kind) in
vaekit's registries, loaded before the command line is built so that their entries and their own
settings appear in every command, in `vaekit models` and on the page.

A plugin is named in ``$VAEKIT_PLUGINS`` (module names, comma-separated, importable from
``sys.path``) or declared by an installed package as an entry point of the ``vaekit.plugins``
group. From Python, importing the module is all it takes.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os

ENV = "VAEKIT_PLUGINS"
GROUP = "vaekit.plugins"


def plugin_modules() -> list[str]:
    """The plugin modules named in $VAEKIT_PLUGINS, then those installed packages declare."""
    named = [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    return named + [ep.value.split(":")[0] for ep in importlib.metadata.entry_points(group=GROUP)]


def load_plugins() -> str | None:
    """Import every plugin module; the first failure as one line (None: all imported)."""
    for name in plugin_modules():
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 -- a plugin's own error, reported as the plugin's
            return f"{ENV}: cannot import plugin {name!r} ({type(e).__name__}: {e})"
    return None
