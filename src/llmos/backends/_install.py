"""The command that installs a missing extra, for the Python that runs llmos.

A bare ``pip install`` may be another Python's pip (the system's, a conda
base): the command names this interpreter, so it installs into the venv
llmos runs from.
"""

from __future__ import annotations

import shlex
import sys


def pip_install(arguments: str) -> str:
    """``/abs/.venv/bin/python -m pip install ARGUMENTS`` for this interpreter."""
    return f"{shlex.quote(sys.executable)} -m pip install {arguments}"


def install_command(extra: str) -> str:
    """The command that installs llmos's extra ``extra`` here."""
    return pip_install(f"'llmos[{extra}]'")
