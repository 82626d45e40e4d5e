"""The environment a command gets, and the secrets kept out of what it prints.

Modelled on Codex CLI's ``shell_environment_policy``: start from a core set
of variables (or all, or none), drop every name that looks like a secret
(``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, cloud credentials …),
then the configured ``exclude`` patterns, then add ``set``, then keep only
``include_only`` if given. Patterns are globs matched without regard to case.
Variables that change how bash itself starts (``BASH_ENV``, ``CDPATH``,
exported functions …) are always dropped: they would run or redirect code
the policy never saw.

The values of the secret variables that were dropped are remembered, so that
tool output that still shows one (read from a file, say) is redacted before
it reaches the model or a trace.

Example:
    >>> env = build_environment(EnvConfig(), {"PATH": "/bin", "OPENAI_API_KEY": "sk-12345678"})
    >>> env.variables
    {'PATH': '/bin'}
    >>> env.redact("the key is sk-12345678")
    'the key is [redacted: OPENAI_API_KEY]'
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from llmos.config import EnvConfig

#: What ``inherit = "core"`` keeps (before the secret filters).
CORE_VARIABLES = (
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "USERNAME",
    "TMPDIR",
    "TEMP",
    "TMP",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TERM",
    "TZ",
    "VIRTUAL_ENV",
)
#: Names that look like secrets (dropped unless ``ignore_default_excludes``).
DEFAULT_EXCLUDES = (
    "*KEY*",
    "*TOKEN*",
    "*SECRET*",
    "*PASSWORD*",
    "*PASSWD*",
    "*CREDENTIAL*",
    "*_PAT",
    "*SESSION*",
    "*COOKIE*",
    "AWS_*",
    "AZURE_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_*",
    "GCLOUD_*",
    "CLOUDSDK_*",
    "KUBECONFIG",
    "DOCKER_AUTH_CONFIG",
    "DATABASE_URL",
    "*_DSN",
    "NETRC",
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "LLMOS_API_TOKEN",
)
#: Never passed: they make bash run or find code the policy did not judge.
SHELL_STARTUP = (
    "BASH_ENV",
    "ENV",
    "CDPATH",
    "SHELLOPTS",
    "BASHOPTS",
    "GLOBIGNORE",
    "PROMPT_COMMAND",
    "BASH_FUNC_*",
    "LD_PRELOAD",
    "LD_AUDIT",
)
#: Shorter values are too common to redact without mangling ordinary output.
MIN_SECRET_CHARS = 8


def _matches(name: str, patterns: Iterable[str]) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern.upper()) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class CommandEnvironment:
    """The variables a command gets, and the secret values it must not show."""

    variables: dict[str, str]
    #: secret value → the name of the variable it came from
    secrets: Mapping[str, str]

    def redact(self, text: str) -> str:
        """``text`` with every known secret value replaced by a marker naming its variable."""
        for value in sorted(self.secrets, key=len, reverse=True):  # longest first: no leftovers
            if value in text:
                text = text.replace(value, f"[redacted: {self.secrets[value]}]")
        return text


def build_environment(
    policy: EnvConfig, parent: Mapping[str, str] | None = None
) -> CommandEnvironment:
    """Apply ``policy`` to ``parent`` (default: this process's environment)."""
    parent = os.environ if parent is None else parent
    if policy.inherit == "all":
        chosen = dict(parent)
    elif policy.inherit == "core":
        chosen = {k: v for k, v in parent.items() if _matches(k, CORE_VARIABLES)}
    else:
        chosen = {}
    secret_patterns = () if policy.ignore_default_excludes else DEFAULT_EXCLUDES
    secrets: dict[str, str] = {}
    for name, value in parent.items():
        # Every secret-looking value of the parent is redacted, inherited or not.
        if _matches(name, (*DEFAULT_EXCLUDES, *policy.exclude)) and len(value) >= MIN_SECRET_CHARS:
            secrets.setdefault(value, name)
    for name in list(chosen):
        if _matches(name, (*secret_patterns, *policy.exclude, *SHELL_STARTUP)):
            del chosen[name]
    chosen.update(policy.set)
    if policy.include_only:
        chosen = {k: v for k, v in chosen.items() if _matches(k, policy.include_only)}
    for value in list(secrets):
        if value in chosen.values():  # the user passed it on purpose (include or set)
            del secrets[value]
    return CommandEnvironment(chosen, secrets)
