"""The one exception type that vaekit raises for problems a user can fix."""


class VaekitError(Exception):
    """A problem with the user's input, files or environment, stated so they can act on it.

    The CLI prints the message on one line and exits with status 2; the Python API lets it
    propagate. Messages name the flag or file and say what was expected and what was found.
    """
