"""WebFetch against a real HTTP server on 127.0.0.1: allow-list, redirects, HTML to text."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llmos.config import ToolsConfig
from llmos.tools import default_registry
from llmos.tools.base import ToolContext, ToolResult
from llmos.tools.webfetch import MAX_BODY_BYTES, host_allowed

PAGE = """<!doctype html><html><head><title>Hi</title><style>p{color:red}</style>
<script>var x = 1;</script></head><body>
<h1>Release notes</h1><p>Version <b>2.0</b> adds <a href="/docs">docs</a>.</p>
<ul><li>fast</li><li>small</li></ul><img src="logo.png" alt="logo"></body></html>"""


class Handler(BaseHTTPRequestHandler):
    """Routes for the tests; every request path is logged on the server."""

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        port = self.server.server_address[1]
        routes = {
            "/page": (200, "text/html; charset=utf-8", PAGE.encode()),
            "/plain": (200, "text/plain; charset=latin-1", "café".encode("latin-1")),
            "/json": (200, "application/json", b'{"ok": true}'),
            "/bare": (200, "text/html", b"https://example.com/docs"),
            "/image": (200, "image/png", b"\x89PNG\r\n\x1a\n\x00"),
            "/missing": (404, "text/html", b"<p>No such page</p>"),
            "/big": (200, "text/plain", b"x" * (MAX_BODY_BYTES + 10_000)),
        }
        if self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", "/page")
            self.end_headers()
            return
        if self.path == "/away":
            self.send_response(301)
            self.send_header("Location", f"http://localhost:{port}/page")
            self.end_headers()
            return
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(2)
        status, media_type, body = routes.get(self.path, (200, "text/plain", b"slow"))
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class QuietServer(ThreadingHTTPServer):
    """The client hangs up on purpose (size limit, time-out): that is not a server error."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base(server: ThreadingHTTPServer) -> str:
    server.requests.clear()  # type: ignore[attr-defined]
    return f"http://127.0.0.1:{server.server_address[1]}"


def context(cwd: Path, *allow: str, timeout_s: float = 10.0) -> ToolContext:
    settings = ToolsConfig(webfetch_allow=allow, webfetch_timeout=timeout_s, sandbox=False)
    return ToolContext(cwd=cwd, workspace=cwd, settings=settings)


async def fetch(url: str, ctx: ToolContext) -> ToolResult:
    return await default_registry().execute(
        "WebFetch", {"url": url, "prompt": "What changed?"}, ctx
    )


async def test_nothing_is_allowed_by_default(cwd: Path, base: str, server) -> None:
    result = await fetch(f"{base}/page", context(cwd))
    assert result.is_error
    assert result.content.startswith(
        "WebFetch may not fetch '127.0.0.1': the host is not in the allow-list "
        "(tools.webfetch_allow: empty). Nothing is allowed by default; add the domain to "
        "`tools.webfetch_allow`"
    )
    assert server.requests == []


async def test_html_becomes_readable_text(cwd: Path, base: str) -> None:
    result = await fetch(f"{base}/page", context(cwd, "127.0.0.1"))
    assert not result.is_error
    head, _, text = result.content.partition("\n\n")
    assert head == (
        f"URL: {base}/page\nStatus: 200 OK · text/html · {len(PAGE.encode()):,} bytes\n"
        "Prompt: What changed?"
    )
    assert text == "# Release notes\n\nVersion **2.0** adds [docs](/docs).\n\n* fast\n* small"
    assert "var x" not in text and "color:red" not in text


async def test_plain_text_and_json_are_returned_as_they_are(cwd: Path, base: str) -> None:
    ctx = context(cwd, "127.0.0.1")
    plain = await fetch(f"{base}/plain", ctx)
    data = await fetch(f"{base}/json", ctx)
    assert plain.content.endswith("\n\ncafé")  # decoded with the charset the server named
    assert data.content.endswith('\n\n{"ok": true}')


async def test_html_without_markup_is_returned_as_it_is(cwd: Path, base: str) -> None:
    # bs4 warns on markup that looks like a URL; warnings are errors in the tests.
    result = await fetch(f"{base}/bare", context(cwd, "127.0.0.1"))
    assert not result.is_error
    assert result.content.endswith("\n\nhttps://example.com/docs")


async def test_binary_content_is_refused(cwd: Path, base: str) -> None:
    result = await fetch(f"{base}/image", context(cwd, "127.0.0.1"))
    assert result.is_error
    assert (
        result.content
        == "The response is 'image/png', not text; WebFetch returns text content only."
    )


async def test_an_http_error_status_is_an_error_result_with_the_page(cwd: Path, base: str) -> None:
    result = await fetch(f"{base}/missing", context(cwd, "127.0.0.1"))
    assert result.is_error
    assert "Status: 404 Not Found" in result.content
    assert result.content.endswith("No such page")


async def test_redirects_are_followed_on_allowed_hosts(cwd: Path, base: str, server) -> None:
    result = await fetch(f"{base}/hop", context(cwd, "127.0.0.1"))
    assert not result.is_error
    assert result.content.startswith(f"URL: {base}/page\nRedirected from: {base}/hop\n")
    assert server.requests == ["/hop", "/page"]


async def test_a_redirect_to_a_host_not_allowed_is_refused(cwd: Path, base: str, server) -> None:
    result = await fetch(f"{base}/away", context(cwd, "127.0.0.1"))
    assert result.is_error
    assert result.content.startswith(
        f"WebFetch may not fetch 'localhost' (redirect from {base}/away)"
    )
    assert server.requests == ["/away"]


async def test_redirect_loops_end(cwd: Path, base: str) -> None:
    result = await fetch(f"{base}/loop", context(cwd, "127.0.0.1"))
    assert result.is_error
    assert result.content == f"{base}/loop redirected more than 5 times; giving up."


async def test_the_body_is_cut_at_the_size_limit(cwd: Path, base: str) -> None:
    settings = ToolsConfig(webfetch_allow=("127.0.0.1",), trace_output_chars=2 * MAX_BODY_BYTES)
    result = await fetch(f"{base}/big", ToolContext(cwd=cwd, workspace=cwd, settings=settings))
    assert f"· {MAX_BODY_BYTES:,} bytes (cut at the size limit)" in result.content
    assert result.output is not None
    assert result.output.partition("\n\n")[2] == "x" * MAX_BODY_BYTES
    assert len(result.content) <= ToolsConfig().model_output_chars


async def test_a_slow_server_times_out(cwd: Path, base: str) -> None:
    result = await fetch(f"{base}/slow", context(cwd, "127.0.0.1", timeout_s=0.3))
    assert result.is_error
    assert result.content == f"Fetching {base}/slow timed out after 0.3 s."


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "not a url"])
async def test_only_http_and_https_urls(cwd: Path, url: str) -> None:
    result = await fetch(url, context(cwd, "127.0.0.1"))
    assert result.is_error
    assert "http://" in result.content or "no host" in result.content


async def test_a_closed_port_is_an_error_result(cwd: Path) -> None:
    result = await fetch("http://127.0.0.1:1/", context(cwd, "127.0.0.1"))
    assert result.is_error
    assert result.content.startswith("Fetching http://127.0.0.1:1/ failed: ConnectError:")


@pytest.mark.parametrize(
    ("host", "allow", "expected"),
    [
        ("example.com", ("example.com",), True),
        ("docs.example.com", ("example.com",), True),
        ("a.b.example.com", ("*.example.com",), True),
        ("EXAMPLE.com.", ("example.com",), True),
        ("badexample.com", ("example.com",), False),
        ("example.com.evil.net", ("example.com",), False),
        ("example.com", ("docs.example.com",), False),
        ("docs.python.org", ("https://docs.python.org/3/",), True),
        ("127.0.0.1", ("127.0.0.1",), True),
        ("127.0.0.1", ("0.0.1",), False),
        ("example.com", (), False),
    ],
)
def test_allow_list_matching(host: str, allow: tuple[str, ...], expected: bool) -> None:
    assert host_allowed(host, allow) is expected
