"""The API key: the middleware that asks for it, and the one comparison it and /health use."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from raysight.api.middleware.errors import error_response, platform_of
from raysight.errors import Unauthorized

OPEN_PATHS = ("/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


def key_is_required(api_key: str | None) -> bool:
    return bool(api_key)


def has_valid_key(headers: Iterable[tuple[bytes, bytes]], api_key: str | None) -> bool:
    """Whether the raw ASGI headers carry `api_key` (``Authorization: Bearer`` or ``X-API-Key``)."""
    if not api_key:
        return False
    given = ""
    auth = ""
    for name, value in headers:
        lname = name.decode("latin-1").lower()
        if lname == "x-api-key":
            given = given or value.decode("latin-1")
        elif lname == "authorization":
            auth = value.decode("latin-1")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return bool(given) and hmac.compare_digest(given.encode(), api_key.encode())


class ApiKeyMiddleware:
    """When RAYSIGHT_API_KEY is set, every path but OPEN_PATHS needs the key (``Authorization: Bearer
    <key>`` or ``X-API-Key: <key>``), matched on the exact path: /uploads/health is not /health."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        platform = platform_of(scope) if scope["type"] == "http" else None
        key = platform.settings.api_key if platform else None
        if not key or scope.get("path", "") in OPEN_PATHS or has_valid_key(scope.get("headers", []), key):
            await self.app(scope, receive, send)
            return
        # the owning API's envelope (a dialect client parses its own error shape), with HTTP 401 whatever
        # status that dialect gives its other errors: no client mistakes a refusal for a result
        response = await error_response(scope, Unauthorized("missing or invalid API key"))
        response.status_code = 401
        response.headers["www-authenticate"] = "Bearer"
        await response(scope, receive, send)
