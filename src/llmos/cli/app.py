"""The ``llmos`` entry point (``llmos.cli.app:main``): the version at once, else the commands.

``llmos --version`` is answered before typer, rich or pydantic are imported;
everything else loads :mod:`llmos.cli.commands`, where the commands are
defined, and runs them.
"""

from __future__ import annotations

import sys

from llmos.version import __version__

_TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if _TYPE_CHECKING:
    import typer


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of exiting, so tests can call it."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # exactly what the eager --version option prints
        print(f"llmos {__version__}")
        return 0
    from llmos.cli import commands

    return commands.main(args)


def __getattr__(name: str) -> typer.Typer:
    """``app``, the typer application, loaded on first use (``from llmos.cli.app import app``)."""
    if name == "app":
        from llmos.cli.commands import app

        return app
    raise AttributeError(f"module 'llmos.cli.app' has no attribute {name!r}")
