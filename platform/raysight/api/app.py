"""create_app: the single FastAPI application (bound to Serve by raysight.serving.ingress)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from raysight import __version__
from raysight.api import compat, native
from raysight.api.envelopes import native_error
from raysight.api.middleware import OPEN_PATHS, ApiKeyMiddleware, BodyLimitMiddleware, CrossSiteMiddleware
from raysight.api.middleware.body_limit import archive_paths
from raysight.api.middleware.errors import dialect_renderer
from raysight.api.request_metrics import RequestMetricsMiddleware
from raysight.context import Platform
from raysight.errors import RaysightError

log = logging.getLogger(__name__)

__all__ = ["OPEN_PATHS", "create_app"]


def create_app(platform: Platform | None = None) -> FastAPI:
    """Build the app around `platform` (the Serve ingress passes its replica's Platform, built there;
    None only for an app that answers no route needing one, e.g. to read its OpenAPI schema)."""
    app = FastAPI(
        title="raysight",
        version=__version__,
        description=("Self-hosted vision model platform: the native API plus the imgseg, filerec, PaddleX and "
                     "AutoSele dialects."),
    )
    app.state.platform = platform
    app.add_middleware(BodyLimitMiddleware)  # innermost: a request without the key never gets its body read
    app.add_middleware(ApiKeyMiddleware)
    app.add_middleware(CrossSiteMiddleware)  # outermost of these: bad Host / foreign Origin go no further
    app.add_middleware(RequestMetricsMiddleware)  # outermost: counts 401s and 404s too
    app.add_exception_handler(RaysightError, native_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, native_error)
    mounted = [("", router) for router in [*native.routers(), *compat.root_routers()]]
    mounted += [(f"/compat/{name}", router) for name, router in compat.prefixed_routers()]
    for name, router in compat.routers():
        mounted += [(f"/compat/{name}", router), ("", router)]
    for prefix, router in mounted:
        app.include_router(router, prefix=prefix)
    app.state.archive_paths = archive_paths(mounted)  # the body limit's archive routes
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """An HTTP error no route handled (an unknown path under /compat/<dialect>/): in that dialect's
    envelope; FastAPI's own answer elsewhere."""
    path = request.url.path
    render = dialect_renderer(path) if path.startswith("/compat/") else None
    if render is not None and isinstance(exc, StarletteHTTPException):  # the dialects know FastAPI's subclass
        return render(request, HTTPException(exc.status_code, exc.detail, exc.headers))
    return await http_exception_handler(request, exc)  # type: ignore[arg-type]
