"""llmos's version, in a module that imports nothing (``llmos.__version__`` re-exports it)."""

__version__ = "0.1.0"
