"""llmos: an operating system for LLM agents."""

from llmos.api import LLMOS
from llmos.kernel.task import TaskResult
from llmos.plugins import hook, tool

__version__ = "0.1.0"

__all__ = ["LLMOS", "TaskResult", "__version__", "hook", "tool"]
