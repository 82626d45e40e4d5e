"""``llmos serve``: the HTTP API and the dashboard, on 127.0.0.1 unless told otherwise.

The listening socket is opened here, before the app starts, so ``--port 0``
can pick a free port and the line printed when the server is ready names
the real one: ``llmos serving on http://127.0.0.1:PORT``. Binding to an
address other machines can reach needs ``LLMOS_API_TOKEN`` (see
:mod:`llmos.server.auth`). Ctrl-C or SIGTERM stops the server; running
tasks are cancelled cleanly (partial traces kept, reservations released).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from llmos.cli.common import WorkspaceOption, settings_for
from llmos.config import PROVIDERS
from llmos.errors import ConfigError

SERVER_EXTRA = "pip install 'llmos[server]'"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def open_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --host or "
            "--port (--port 0 picks a free one)",
            key="--port",
        ) from exc
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; not loopback needs LLMOS_API_TOKEN.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8765,
    workspace: WorkspaceOption = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help=f"One of {', '.join(PROVIDERS)}.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model name.")] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Server URL for the openai provider.")
    ] = None,
    script: Annotated[
        Path | None, typer.Option("--script", help="JSON script for the scripted provider.")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Tasks that may run at once.")
    ] = 4,
    require_token: Annotated[
        bool,
        typer.Option(
            "--require-token", help="Demand LLMOS_API_TOKEN on every request, even on loopback."
        ),
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help=f"uvicorn's logging: {', '.join(LOG_LEVELS)}.")
    ] = "warning",
) -> None:
    """Serve the HTTP API (/docs) and the dashboard (/) until Ctrl-C."""
    if provider is not None and provider not in PROVIDERS:
        raise ConfigError(
            f"--provider {provider!r} is not one of {', '.join(PROVIDERS)}", key="--provider"
        )
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"--log-level {log_level!r} is not one of {', '.join(LOG_LEVELS)}", key="--log-level"
        )
    try:
        import uvicorn

        from llmos.server import AuthPolicy, create_app
        from llmos.server.auth import TOKEN_VARIABLE
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.startswith("llmos"):
            raise  # our own bug, not a missing extra
        raise ConfigError(
            f"`llmos serve` needs the server extra ({exc.name} is missing): {SERVER_EXTRA}",
            key="server",
        ) from exc
    settings = settings_for(
        workspace,
        provider=provider,
        model=model,
        base_url=base_url,
        script=script.absolute() if script else None,
    )
    policy = AuthPolicy.for_binding(
        host, os.environ.get(TOKEN_VARIABLE), require_token=require_token
    )
    sock = open_socket(host, port)
    url = _url(host, sock.getsockname()[1])

    def ready() -> None:
        guard = " · token required" if policy.token else ""
        print(f"llmos serving on {url} (dashboard {url}/, API docs {url}/docs){guard}", flush=True)

    app = create_app(settings, policy=policy, concurrency=concurrency, on_ready=ready)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            access_log=log_level in ("info", "debug"),
            timeout_graceful_shutdown=3,
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started:
        raise ConfigError(
            f"the server did not start (see the messages above); workspace {settings.workspace}"
        )
