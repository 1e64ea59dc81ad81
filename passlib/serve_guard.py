"""Which web pages and host names may use passlib's server: 403 for the others.

The server has no authentication, and a browser lets any web page send requests to 127.0.0.1. Two
rules stop pages from using the model:

- Host: the Host header must name a loopback host (127.0.0.1, localhost, [::1], any port), the
  address given to --host, or match --allowed-hosts. This stops DNS rebinding (a page whose own
  name resolves to 127.0.0.1 sends its own name as Host). A request without Host (HTTP/1.0) passes.
- Origin: when present (browsers send it on cross-site requests), it must be a loopback origin
  (http or https, a loopback host, any port) or match --allowed-origins / PASSLIB_SERVE_ORIGINS.

Patterns are comma-separated and `*` matches any run of characters, as OLLAMA_ORIGINS does
("https://*.example.com", "*"). Allowed cross-site origins also get CORS headers
(Starlette's CORSMiddleware), so a page there can read the answers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from passlib import serve_answers

ORIGINS_VARIABLE = "PASSLIB_SERVE_ORIGINS"
LOOPBACK_NAMES = ("localhost",)


def split_patterns(values: Iterable[str | None]) -> list[str]:
    """Patterns from comma-separated values (flags, the environment), blanks dropped."""
    return [part.strip() for value in values if value for part in value.split(",") if part.strip()]


def _pattern_regex(patterns: Sequence[str]) -> str | None:
    """One regular expression matching any of the patterns in full (`*`: any run of characters)."""
    if not patterns:
        return None
    return "|".join("(?:" + re.escape(pattern.lower()).replace(r"\*", ".*") + ")" for pattern in patterns)


def is_loopback_host(host: str) -> bool:
    """Whether a host name (no port; IPv6 without brackets) is loopback."""
    host = host.lower().rstrip(".")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host_header(value: str) -> str | None:
    """The host of a Host header ("[::1]:8080" -> "::1", "example.com:80" -> "example.com");
    None when it is malformed."""
    try:
        host = urlsplit(f"//{value}").hostname
    except ValueError:
        return None
    return host


class HostOriginGuard:
    """ASGI middleware: 403 for a foreign Host or Origin; CORS headers for allowed origins."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()) -> None:
        host_regex = _pattern_regex(allowed_hosts)
        origin_regex = _pattern_regex(allowed_origins)
        self._hosts = re.compile(host_regex) if host_regex else None
        self._origins = re.compile(origin_regex) if origin_regex else None
        loopback = r"https?://(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?"
        self.app = CORSMiddleware(app, allow_origin_regex="|".join(filter(None, [loopback, origin_regex])),
                                  allow_methods=["GET", "POST", "HEAD", "OPTIONS"], allow_headers=["*"])

    def host_allowed(self, value: str | None) -> bool:
        """Whether a Host header value passes (None: no header)."""
        if value is None:
            return True
        host = split_host_header(value)
        if host is None:
            return False
        if is_loopback_host(host):
            return True
        return bool(self._hosts and (self._hosts.fullmatch(host) or self._hosts.fullmatch(value.lower())))

    def origin_allowed(self, value: str | None) -> bool:
        """Whether an Origin header value passes (None: no header)."""
        if value is None:
            return True
        if self._origins and self._origins.fullmatch(value.lower()):
            return True
        try:
            parts = urlsplit(value)
            return parts.scheme in ("http", "https") and parts.hostname is not None and is_loopback_host(
                parts.hostname) and parts.path in ("", "/")
        except ValueError:
            return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value.decode("latin-1") for name, value in scope["headers"] if name in (b"host", b"origin")}
        host, origin = headers.get(b"host"), headers.get(b"origin")
        if not self.host_allowed(host):
            reason = f"the Host {host[:100]!r} is not this server's; pass --allowed-hosts to allow it"
        elif not self.origin_allowed(origin):
            reason = (f"requests from the web page origin {origin[:100]!r} are refused; pass --allowed-origins "
                      f"or set {ORIGINS_VARIABLE} to allow it")
        else:
            await self.app(scope, receive, send)
            return
        payload = serve_answers.error_payload(scope["path"].startswith("/v1/"), 403, reason, "forbidden")
        await JSONResponse(payload, status_code=403, headers={"Connection": "close"})(scope, receive, send)
