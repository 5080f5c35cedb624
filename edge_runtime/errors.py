"""The one base class of every error that is the user's input, not a bug in edge-fer."""


class EdgeFerError(Exception):
    """Reported by the CLI as one line `edge-fer: error: ...` with exit code `code`."""

    code = 2
