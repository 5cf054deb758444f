"""The exception types vaekit raises for problems a user can fix."""

from __future__ import annotations


class VaekitError(Exception):
    """A problem with the user's input, files or environment, stated so they can act on it.

    ``setting``: the name of the setting (a config field such as ``latent_dim``) the problem
    concerns, or None when it concerns a file or an argument. Each front end words it its own
    way: ``str(e)`` names the Python field (``latent_dim: expected ...``); the CLI names the flag
    (``--latent-dim: expected ...``) and exits with status 2.
    """

    def __init__(self, message: str, setting: str | None = None):
        super().__init__(message)
        self.message = message
        self.setting = setting

    def worded(self, name=lambda setting: setting) -> str:
        """The message, led by ``name(setting)`` when it concerns a setting."""
        return f"{name(self.setting)}: {self.message}" if self.setting else self.message

    def __str__(self) -> str:
        return self.worded()


class SettingError(VaekitError, ValueError):
    """A setting with a value outside what it accepts (also a ValueError, as Python expects)."""

    def __init__(self, setting: str, expected: str, found, message: str | None = None):
        super().__init__(message or f"expected {expected}, got {found!r}", setting)
        self.expected, self.found = expected, found


SHORT_FLAGS = {"n": "-n", "output": "-o/--output"}  # options the CLI spells short


def flag(setting: str) -> str:
    """The command-line flag of a setting: ``latent_dim`` -> ``--latent-dim`` (a trailing
    underscore, as in ``class_``, is Python's, not the flag's)."""
    if setting.startswith("-"):
        return setting
    return SHORT_FLAGS.get(setting, "--" + setting.rstrip("_").replace("_", "-"))
