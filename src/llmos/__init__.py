"""llmos: an operating system for LLM agents."""

from llmos.api import LLMOS
from llmos.kernel.dispatcher import TaskResult

__version__ = "0.1.0"

__all__ = ["LLMOS", "TaskResult", "__version__"]
