"""Names a package exports but imports only when first used (PEP 562).

A package lists where each public name lives and defines ``__getattr__`` over
:func:`load_export`; start-up then pays only for what a command touches. It
imports nothing but ``importlib`` and ``sys``: ``llmos --version`` loads it.
"""

from __future__ import annotations

import importlib
import sys

_TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if _TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def load_export(package: str, homes: Mapping[str, str], name: str) -> Any:
    """``name`` from its module in ``homes``, kept on ``package`` so the next access is a
    plain lookup; a name not listed is the usual ``AttributeError``."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    setattr(sys.modules[package], name, value)
    return value
