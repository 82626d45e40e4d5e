"""The built-in hooks a new llmos instance starts with, minus those switched off.

``[hooks] disabled = ["security"]`` in ``llmos.toml`` switches one off; an
unknown name is a configuration error, so a typo never silently leaves a
guard in place or removes one.
"""

from __future__ import annotations

from llmos.config import Settings
from llmos.errors import ConfigError
from llmos.hooks.pipeline import HookPipeline
from llmos.hooks.security import security_hooks

#: Built-ins that can be switched off: the security policy, the per-call budget check,
#: memory injection (facts and near traces added to the prompt).
SWITCHABLE = ("security", "budget", "memory")


def check_disabled(settings: Settings) -> frozenset[str]:
    disabled = frozenset(settings.hooks.disabled)
    unknown = sorted(disabled - set(SWITCHABLE))
    if unknown:
        raise ConfigError(
            f"hooks.disabled: unknown built-in hook {unknown[0]!r}; "
            f"the built-ins that can be switched off are {', '.join(SWITCHABLE)}",
            key="hooks.disabled",
        )
    return disabled


def install_builtin_hooks(pipeline: HookPipeline, settings: Settings) -> None:
    """Register the shared built-in hooks (the budget hook is added per task)."""
    if "security" not in check_disabled(settings):
        for hook in security_hooks():
            pipeline.register(hook)
