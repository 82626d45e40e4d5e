"""``llmos serve``: the HTTP API and the web dashboard (the ``server`` extra)."""

from llmos.server.app import create_app
from llmos.server.auth import AuthPolicy

__all__ = ["AuthPolicy", "create_app"]
