"""Who may talk to the server: loopback only by default, a bearer token otherwise.

Rules:

- Bound to a loopback address (127.0.0.1, ::1, localhost) the server needs no
  token, unless ``LLMOS_API_TOKEN`` is set or ``--require-token`` is given.
  It then also refuses requests whose ``Host`` header is not a loopback name,
  so a web page elsewhere cannot reach it through DNS rebinding.
- Bound anywhere else it refuses to start without ``LLMOS_API_TOKEN``.
- With a token, every request must carry it: ``Authorization: Bearer …``,
  or ``?token=…`` (an ``EventSource`` cannot set headers), or the cookie the
  dashboard page sets when it is opened with ``?token=…`` (so the page's
  scripts, styles and streams carry it without putting it in every URL).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from llmos.errors import ConfigError

TOKEN_VARIABLE = "LLMOS_API_TOKEN"
TOKEN_COOKIE = "llmos_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """The token every request must carry (None: none needed, loopback only)."""

    token: str | None

    @classmethod
    def for_binding(cls, host: str, token: str | None, *, require_token: bool) -> AuthPolicy:
        """The policy for a server bound to ``host``; refuses the unsafe combinations.

        Raises:
            ConfigError: a non-loopback host or ``require_token`` without a token.
        """
        token = token or None
        if token is None and not is_loopback(host):
            raise ConfigError(
                f"refusing to serve on {host}: anyone who can reach it could run tasks. "
                f"Set {TOKEN_VARIABLE} to a long random secret (e.g. "
                "`export LLMOS_API_TOKEN=$(python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')`) or bind to 127.0.0.1",
                key="--host",
            )
        if token is None and require_token:
            raise ConfigError(
                f"--require-token was given but {TOKEN_VARIABLE} is not set; set it to the "
                "token clients must send",
                key=TOKEN_VARIABLE,
            )
        return cls(token)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """Why a request may not proceed (status, reason), or None when it may."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is None:
            host = headers.get("host", "")
            if host and not is_loopback(_without_port(host)):
                return 403, (
                    f"Host {headers['host']!r} is not a loopback name; this server only answers "
                    f"127.0.0.1 and localhost (set {TOKEN_VARIABLE} to serve other hosts)"
                )
            return None
        sent = _sent_token(scope, headers)
        if isinstance(sent, _Malformed):
            return 401, sent.reason
        if sent is None:
            return 401, (
                "missing token: send the header `Authorization: Bearer <token>` with the "
                f"value of {TOKEN_VARIABLE} (event streams may use ?token=<token>)"
            )
        if not secrets.compare_digest(sent.encode(), self.token.encode()):
            return 401, f"wrong token: it does not match {TOKEN_VARIABLE} of this server"
        return None


def _without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:8000
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True, slots=True)
class _Malformed:
    reason: str


def _sent_token(scope: Scope, headers: dict[str, str]) -> str | _Malformed | None:
    """The token from the header, else the query string, else the dashboard's cookie."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return _Malformed(
                "the Authorization header must be `Bearer <token>`, "
                f"got a {scheme or 'blank'!r} credential"
            )
        return value.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    cookie = SimpleCookie(headers.get("cookie", ""))
    if TOKEN_COOKIE in cookie:
        return cookie[TOKEN_COOKIE].value
    return None


class TokenMiddleware:
    """Applies an :class:`AuthPolicy` to every HTTP request (plain ASGI: streams pass intact)."""

    def __init__(self, app: ASGIApp, policy: AuthPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.policy.refusal(scope)
            if refused is not None:
                status, reason = refused
                await _send_json(send, status, {"detail": reason})
                return
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, body: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="llmos"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
