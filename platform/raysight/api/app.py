"""create_app: the single FastAPI application (bound to Serve by raysight.serving.ingress)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from raysight import __version__
from raysight.api import compat, native
from raysight.api.envelopes import native_error
from raysight.api.middleware import BodyLimitMiddleware, CrossSiteMiddleware, has_valid_key
from raysight.api.request_metrics import RequestMetricsMiddleware
from raysight.context import Platform
from raysight.errors import RaysightError

log = logging.getLogger(__name__)

OPEN_PATHS = ("/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


class ApiKeyMiddleware:
    """When RAYSIGHT_API_KEY is set, every path but /health and the docs needs the key
    (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state if "app" in scope else None
        platform: Platform | None = getattr(state, "platform", None) if state else None
        key = platform.settings.api_key if platform else None
        path: str = scope.get("path", "")
        if not key or path in OPEN_PATHS:  # the exact path: /uploads/health is not /health
            await self.app(scope, receive, send)
            return
        if has_valid_key(scope.get("headers", []), key):
            await self.app(scope, receive, send)
            return
        body = b'{"detail":"missing or invalid API key"}'
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
        })
        await send({"type": "http.response.body", "body": body})


def create_app(platform: Platform | None = None) -> FastAPI:
    """Build the app. `platform` may be attached later (`app.state.platform = ...`), as the Serve
    ingress does inside its replica."""
    app = FastAPI(
        title="raysight",
        version=__version__,
        description="Self-hosted vision model platform: native API plus filerec/autosele/imgseg/paddlex dialects.",
    )
    app.state.platform = platform
    app.add_middleware(BodyLimitMiddleware)  # innermost: a request without the key never gets its body read
    app.add_middleware(ApiKeyMiddleware)
    app.add_middleware(CrossSiteMiddleware)  # outermost of these: bad Host / foreign Origin go no further
    app.add_middleware(RequestMetricsMiddleware)  # outermost: counts 401s and 404s too
    app.add_exception_handler(RaysightError, native_error)
    app.add_exception_handler(Exception, native_error)
    for router in native.routers():
        app.include_router(router)
    for name, router in compat.routers():
        app.include_router(router, prefix=f"/compat/{name}")
        app.include_router(router)
    return app
