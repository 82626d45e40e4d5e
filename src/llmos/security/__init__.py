"""The security policy: shell commands and file paths judged by parsing, not matching."""

from llmos.security.paths import judge_path
from llmos.security.policy import judge_command
from llmos.security.verdict import Verdict

__all__ = ["Verdict", "judge_command", "judge_path"]
