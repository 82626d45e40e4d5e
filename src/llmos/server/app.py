"""The HTTP API and the dashboard: one FastAPI app over one :class:`~llmos.api.LLMOS`.

The app owns an LLMOS instance and a :class:`~llmos.server.tasks.TaskBoard`
(the kernel scheduler under the watchdog) for its lifetime. Every error a
client can cause is a 4xx whose ``detail`` says what was wrong.

Example:
    app = create_app(load_settings(workspace="ws"), concurrency=4)
    uvicorn.run(app, host="127.0.0.1", port=8765)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from swagger_ui_bundle import swagger_ui_path

from llmos import __version__
from llmos.api import LLMOS
from llmos.config import MODES, Settings
from llmos.errors import ConfigError, LLMOSError
from llmos.server import routes_library, routes_tasks
from llmos.server.auth import TOKEN_COOKIE, AuthPolicy, TokenMiddleware
from llmos.server.tasks import TaskBoard

STATIC = Path(__file__).parent / "static"
DEFAULT_CONCURRENCY = 4


def create_app(
    settings: Settings,
    *,
    policy: AuthPolicy | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_ready: Callable[[], None] | None = None,
) -> FastAPI:
    """The server for ``settings.workspace``; ``on_ready`` runs once it can take tasks."""
    policy = policy or AuthPolicy(None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        llmos = LLMOS(settings=settings)
        board = await TaskBoard.open(llmos, concurrency=concurrency)
        app.state.llmos, app.state.board = llmos, board
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await board.close()
            await llmos.shutdown()

    app = FastAPI(
        title="llmos",
        version=__version__,
        summary="Run tasks, follow their events, browse traces and the token economy.",
        lifespan=lifespan,
        docs_url=None,  # served below from the swagger-ui-bundle package, not from a CDN
        redoc_url=None,
    )
    app.add_middleware(TokenMiddleware, policy=policy)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(LLMOSError, _llmos_error)  # type: ignore[arg-type]
    app.include_router(routes_tasks.router)
    app.include_router(routes_library.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    def remember_token(request: Request, page: Response) -> Response:
        """A page opened with ?token= keeps it in a cookie for its scripts and streams."""
        token = request.query_params.get("token")
        if policy.token is not None and token:  # the middleware checked it already
            page.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return page

    @app.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        page = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
        return remember_token(request, page)

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        page: HTMLResponse = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="llmos API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
        return remember_token(request, page)

    @app.get("/status", tags=["server"])
    async def server_status(request: Request) -> dict[str, Any]:
        """The server's workspace, provider, modes and scheduler load."""
        board: TaskBoard = request.app.state.board
        return {
            "version": __version__,
            "workspace": str(settings.workspace),
            "provider": settings.provider,
            "model": settings.model,
            "modes": list(MODES),
            "concurrency": board.scheduler.concurrency,
            "running": board.scheduler.running,
            "queued": board.scheduler.queued,
            "auth": policy.token is not None,
        }

    return app


def _describe(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":
        problem = error.get("ctx", {}).get("error", "")
        return f"the body is not valid JSON: {problem} (at character {error['loc'][-1]})"
    where = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing" or "input" not in error:
        return f"{where}: {message}"
    return f"{where}: {message} (got {error['input']!r})"


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with a readable ``detail`` line, and pydantic's list under ``errors``."""
    errors = list(exc.errors())
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={
            "detail": "; ".join(_describe(e) for e in errors),
            "errors": [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors],
        },
    )


async def _llmos_error(request: Request, exc: LLMOSError) -> JSONResponse:
    code = status.HTTP_400_BAD_REQUEST if isinstance(exc, ConfigError) else 500
    return JSONResponse(status_code=code, content={"detail": f"{type(exc).__name__}: {exc}"})
