"""The one base class of every error that is the user's input, not a bug in edge-fer, and
the one way a message becomes one line."""


class EdgeFerError(Exception):
    """Reported by the CLI as one line `edge-fer: error: ...` with exit code `code`."""

    code = 2


def one_line(text: str) -> str:
    """`text` as one printable line: newlines, tabs and terminal escape codes in it (a file
    name can hold any of them) are shown escaped, as Python writes them in a string."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def brief(error: BaseException, limit: int = 200, last: bool = False) -> str:
    """A library's exception as a short clause for our one line: its first (or, for OpenCV,
    whose first lines are a location banner, its `last`) non-empty line, or its type name,
    cut to `limit` characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = (lines[-1] if last else lines[0]) if lines else type(error).__name__
    return one_line(text[:limit])
