"""WebFetch: GET a web page and return it as readable text, for allowed hosts only.

Nothing is allowed by default: a host is fetched only when it, or a domain
it belongs to, is listed in ``tools.webfetch_allow``. Every redirect is
checked against the same list, so an allowed site cannot bounce the request
somewhere else. The download is bounded in size and in total time.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import Field

from llmos.tools._schema import ToolInput
from llmos.tools._text import text_result
from llmos.tools.base import Tool, ToolContext, ToolError, ToolResult

if TYPE_CHECKING:
    import httpx  # imported where a page is fetched: ~60 ms every command would pay

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("application/json", "application/xml", "application/javascript")
USER_AGENT = "llmos-webfetch/0.1 (+https://github.com/llmos)"


class WebFetchInput(ToolInput):
    url: str = Field(
        description="The http:// or https:// URL to fetch. Its host must be allowed by "
        "tools.webfetch_allow in the configuration."
    )
    prompt: str = Field(
        description="What you want to learn from the page. It is returned with the page text "
        "so that you can answer it from there."
    )


class WebFetchTool(Tool):
    name = "WebFetch"
    description = (
        "Fetches a URL with GET and returns its content as text: HTML is turned into readable "
        "Markdown-like text, other text types are returned as they are, binary content is "
        "refused. Only hosts listed in the configuration (tools.webfetch_allow, subdomains "
        "included) can be fetched; redirects are followed only to allowed hosts. Large pages "
        "are cut."
    )
    Input = WebFetchInput

    async def run(self, args: WebFetchInput, ctx: ToolContext) -> ToolResult:
        import httpx

        allow = ctx.settings.webfetch_allow
        url = _checked_url(args.url, allow)
        timeout = ctx.settings.webfetch_timeout
        try:
            async with (
                asyncio.timeout(timeout),
                httpx.AsyncClient(
                    follow_redirects=False, timeout=timeout, headers={"User-Agent": USER_AGENT}
                ) as client,
            ):
                page = await _fetch(client, url, allow)
        except TimeoutError as exc:
            raise ToolError(f"Fetching {url} timed out after {timeout:g} s.") from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"Fetching {url} failed: {type(exc).__name__}: {exc}") from exc
        text = await asyncio.to_thread(page.render, args.prompt)
        return text_result(text, ctx.settings, is_error=page.status >= 400)


class _Page:
    """A fetched response, reduced to what the model needs."""

    def __init__(self, response: httpx.Response, body: bytes, cut: bool, start: httpx.URL) -> None:
        self.url = response.url
        self.status = response.status_code
        self.reason = response.reason_phrase
        self.media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        self.encoding = response.encoding or "utf-8"
        self.body = body
        self.cut = cut
        self.start = start

    def render(self, prompt: str) -> str:
        """Headers, the prompt and the body as text; CPU-bound for big pages (use a thread)."""
        text = _to_text(self.body, self.media_type, self.encoding)
        lines = [f"URL: {self.url}"]
        if self.url != self.start:
            lines.append(f"Redirected from: {self.start}")
        lines.append(
            f"Status: {self.status} {self.reason} · {self.media_type or 'no content type'} "
            f"· {len(self.body):,} bytes{' (cut at the size limit)' if self.cut else ''}"
        )
        lines.append(f"Prompt: {prompt}")
        return "\n".join(lines) + "\n\n" + (text.strip() or "(empty body)")


async def _fetch(client: httpx.AsyncClient, url: httpx.URL, allow: Iterable[str]) -> _Page:
    start = url
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", url) as response:
            if response.is_redirect:
                location = response.headers.get("location", "")
                url = _checked_url(str(url.join(location)), allow, redirected_from=url)
                continue
            body, cut = await _read_capped(response)
            return _Page(response, body, cut, start)
    raise ToolError(f"{start} redirected more than {MAX_REDIRECTS} times; giving up.")


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"".join(chunks)[:MAX_BODY_BYTES], True
    return b"".join(chunks), False


def _to_text(body: bytes, media_type: str, encoding: str) -> str:
    is_html = media_type in HTML_TYPES
    is_text = (
        media_type.startswith("text/")
        or media_type in TEXT_TYPES
        or media_type.endswith(("+json", "+xml"))
        or not media_type
    )
    if not (is_html or is_text):
        raise ToolError(
            f"The response is {media_type!r}, not text; WebFetch returns text content only."
        )
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:  # an unknown charset name in the header
        text = body.decode("utf-8", errors="replace")
    if not is_html or "<" not in text:  # no markup to convert (and bs4 would warn on a bare URL)
        return text
    return _page_converter().convert(text)


@functools.cache
def _page_converter() -> Any:
    """HTML to Markdown for a model: the body only, no images; ``snake_case`` left unescaped.

    Scripts and styles are dropped by markdownify itself; paragraphs stay on one line.
    markdownify (and BeautifulSoup under it) is imported on the first page, not at
    start-up: most runs never fetch one.
    """
    from markdownify import MarkdownConverter

    class PageConverter(MarkdownConverter):
        def convert_head(self, el: object, text: str, parent_tags: set[str]) -> str:
            return ""  # the <title> and <meta> text is not the page

        def convert_img(self, el: object, text: str, parent_tags: set[str]) -> str:
            return ""

    return PageConverter(heading_style="atx", bullets="*", escape_underscores=False)


def _checked_url(
    raw: str, allow: Iterable[str], *, redirected_from: httpx.URL | None = None
) -> httpx.URL:
    """Parse ``raw`` and refuse it unless it is http(s) on an allowed host."""
    import httpx

    via = f" (redirect from {redirected_from})" if redirected_from is not None else ""
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise ToolError(f"Invalid URL {raw!r}{via}: {exc}.") from exc
    if url.scheme not in ("http", "https"):
        raise ToolError(f"WebFetch fetches http:// and https:// URLs only, not {raw!r}{via}.")
    if not url.host:
        raise ToolError(f"The URL {raw!r}{via} has no host.")
    if not host_allowed(url.host, allow):
        listed = ", ".join(repr(entry) for entry in allow) or "empty"
        raise ToolError(
            f"WebFetch may not fetch {url.host!r}{via}: the host is not in the allow-list "
            f"(tools.webfetch_allow: {listed}). Nothing is allowed by default; add the domain "
            "to `tools.webfetch_allow` in llmos.toml (for example `webfetch_allow = "
            '["example.com"]` under [tools]) to allow it and its subdomains.'
        )
    return url


def host_allowed(host: str, allow: Iterable[str]) -> bool:
    """Whether ``host`` is a listed domain or one of its subdomains (IPs match exactly)."""
    host = host.lower().rstrip(".")
    is_ip = _is_ip(host)
    for entry in allow:
        domain = _domain_of(entry)
        if not domain:
            continue
        if host == domain or (not is_ip and host.endswith("." + domain)):
            return True
    return False


def _domain_of(entry: str) -> str:
    entry = entry.strip().lower()
    if "://" in entry:
        import httpx

        entry = httpx.URL(entry).host
    return entry.removeprefix("*.").strip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
