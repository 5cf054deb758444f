"""The registries: name -> entry tables that make a new variant one function plus one line.

Each registry is declared here, at the bottom of the package, and filled by the module that
defines its entries (its *home*: ``MODELS["vae"] = ModelKind(...)`` in vaekit.models), or by a
plugin. Settings check names against them and the CLI lists them without importing the layers
above; the first read of a registry imports its home, so its built-in entries are always there
(the only way this module reaches upwards, and it names the module rather than importing it).

    >>> from vaekit.registry import OBJECTIVES
    >>> OBJECTIVES["mine"] = Objective(my_objective, about="...")   # a new objective
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, MutableMapping


class Registry(MutableMapping):
    """An ordered name -> entry table; ``kind`` names an entry in messages ("backbone")."""

    def __init__(self, kind: str, home: str):
        self.kind, self.home = kind, home
        self._entries: dict = {}
        self._loaded = False
        self._importing = False
        # The first read may come from two threads at once (the page's server answers requests
        # in a thread pool): the second waits for the home to finish filling the table instead of
        # reading it half-filled. Re-entrant, because the home reads its own registry as it fills it.
        self._lock = threading.RLock()

    def _load(self) -> dict:
        if not self._loaded:
            with self._lock:
                if not self._loaded and not self._importing:
                    self._importing = True
                    try:
                        importlib.import_module(self.home)
                    finally:
                        self._importing, self._loaded = False, True
        return self._entries

    def __getitem__(self, name: str):
        return self._load()[name]

    def __setitem__(self, name: str, entry) -> None:
        self._load()[name] = entry  # built-in entries first, then a plugin's

    def __delitem__(self, name: str) -> None:
        del self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self)})"

    def register(self, name: str):
        """Decorator form of ``REGISTRY[name] = fn``."""
        def add(entry):
            self[name] = entry
            return entry
        return add


MODELS = Registry("model", "vaekit.models")  # ModelKind: posterior, labels, own objective/prior
POSTERIORS = Registry("posterior", "vaekit.models")  # PosteriorKind: head output -> q(z|x)
BACKBONES = Registry("backbone", "vaekit.models")  # fn(config) -> (encoder, decoder)
PRIORS = Registry("prior", "vaekit.models")  # class(config) -> p(z) module
ACTIVATIONS = Registry("activation", "vaekit.models")  # nn.Module class
OBJECTIVES = Registry("objective", "vaekit.objectives")  # Objective: fn, rules, settings
KERNELS = Registry("MMD kernel", "vaekit.objectives")  # fn(squared distances, dim) -> k
SAMPLERS = Registry("sampler", "vaekit.run.samplers")  # fn(run, n, seed) -> codes (n, D)
LOGGERS = Registry("logger", "vaekit.train.loggers")  # Tracker


def about(entry) -> str:
    """An entry's one line: its ``about`` where it has one (a model kind, an objective), else the
    first paragraph of its docstring (a backbone, a prior, a kernel, a sampler)."""
    if hasattr(entry, "about"):
        return entry.about
    doc = (getattr(entry, "__doc__", None) or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""
