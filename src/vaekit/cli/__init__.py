"""The command line: ``vaekit ...`` (``commands``), with its options generated from the settings
(``options``)."""

from vaekit.cli.commands import app, main

__all__ = ["app", "main"]
