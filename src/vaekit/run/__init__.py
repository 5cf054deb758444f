"""A run folder: its format (``layout``: every file name), its weights and resume state
(``checkpoint``), the data it was trained on, rebuilt (``data``), its samplers, and ``Run``, the one
object every command, the page and the Python API read a run through."""

from vaekit.run.folder import Run

__all__ = ["Run"]
