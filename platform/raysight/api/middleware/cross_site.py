"""Cross-site protection for a server that may run without an API key on an operator's machine.

- Host check (DNS rebinding): the Host header must name this server: a loopback name, the bound host,
  an entry of RAYSIGHT_ALLOWED_HOSTS ('*' any, '*.example.com' a domain and its subdomains) or an IP
  address (a rebinding attack needs a host *name*).
- Origin check (cross-site request forgery): a browser sends `Origin` with every cross-origin POST,
  multipart forms included, which need no CORS preflight. A state-changing request (POST, PUT, PATCH,
  DELETE) whose Origin is neither this server (same host[:port] as the Host header) nor listed in
  RAYSIGHT_CORS_ORIGINS is refused with 403. Clients that send no Origin (curl, SDKs) are unaffected.
- CORS: for origins of RAYSIGHT_CORS_ORIGINS, preflights are answered and responses carry
  Access-Control-Allow-Origin (Starlette's CORSMiddleware); other origins get no CORS headers.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from raysight.api.middleware.errors import platform_of, send_error
from raysight.errors import RaysightError
from raysight.settings import Settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class BadHost(RaysightError):
    status = 400
    code = "invalid_host"


class CrossOriginRefused(RaysightError):
    status = 403
    code = "cross_origin"


def host_name(host_header: str) -> str:
    """'example.com:8000' -> 'example.com', '[::1]:8000' -> '::1' (lower case)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def host_allowed(host_header: str, settings: Settings) -> bool:
    """A loopback name, the bound host, an entry of RAYSIGHT_ALLOWED_HOSTS, or any IP literal: DNS
    rebinding needs a name the attacker controls, and a page at http://<ip> is only same-origin with
    the machine at that address (so a server bound to 0.0.0.0 answers on its LAN addresses)."""
    name = host_name(host_header).rstrip(".")
    if not name:
        return False
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
        return True
    except ValueError:
        pass
    for pattern in settings.trusted_hosts:
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and (name == pattern[2:] or name.endswith(pattern[1:])):
            return True
    return False


def origin_allowed(origin: str, host_header: str, settings: Settings) -> bool:
    """Same origin (the Origin's host[:port] is the Host header) or listed in RAYSIGHT_CORS_ORIGINS."""
    allowed = settings.cors_origin_list
    if "*" in allowed or origin.rstrip("/") in allowed:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    # Scheme is not compared: behind a TLS-terminating proxy the app sees http while the page is https.
    return bool(parts.netloc) and parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


class CrossSiteMiddleware:
    """Host check, Origin check, and CORS for configured origins (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: tuple[str, ASGIApp] | None = None

    def _with_cors(self, settings: Settings) -> ASGIApp:
        if not settings.cors_origin_list:
            return self.app
        key = settings.cors_origins
        if self._cors is None or self._cors[0] != key:
            cors = CORSMiddleware(self.app, allow_origins=settings.cors_origin_list, allow_methods=["*"],
                                  allow_headers=["*"], max_age=600)
            self._cors = (key, cors)
        return self._cors[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        platform = platform_of(scope)
        if scope["type"] != "http" or platform is None:
            await self.app(scope, receive, send)
            return
        settings = platform.settings
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not host_allowed(host, settings):
            await send_error(scope, receive, send, BadHost(
                "invalid Host header: add this server's name to RAYSIGHT_ALLOWED_HOSTS"))
            return
        origin = headers.get("origin")
        if origin is not None and scope.get("method", "GET") not in SAFE_METHODS \
                and not origin_allowed(origin, host, settings):
            await send_error(scope, receive, send, CrossOriginRefused(
                "cross-origin request refused: the origin is not in RAYSIGHT_CORS_ORIGINS"))
            return
        await self._with_cors(settings)(scope, receive, send)
