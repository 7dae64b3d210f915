"""Request metrics: every HTTP request counted by route template, API dialect, method and status, and
timed (raysight_http_requests_total, raysight_http_request_duration_seconds)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raysight import metrics

COMPAT_PACKAGE = "raysight.api.compat."
COMPAT_PREFIX = "/compat/"


def route_template(scope: Scope) -> str:
    """The matched route's path template. FastAPI hands the route of an included router as it was
    declared (without the include prefix): the /compat/<dialect> mount is put back from the path."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not template:
        return "unmatched"
    path = str(scope.get("path", ""))
    if path.startswith(COMPAT_PREFIX) and not template.startswith(COMPAT_PREFIX):
        template = "/".join(path.split("/")[:3]) + template
    return template


def dialect_of(endpoint: object) -> str:
    """native, or the compat dialect whose module defines the route's endpoint."""
    module = getattr(endpoint, "__module__", "") or ""
    if module.startswith(COMPAT_PACKAGE):
        return module[len(COMPAT_PACKAGE):].split(".")[0].removesuffix("_schemas")
    return "native" if module.startswith("raysight.api.") else "other"


class RequestMetricsMiddleware:
    """Outermost middleware: sees the final status, 401s of the key check and 404s of unknown paths included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            template = route_template(scope)
            dialect = dialect_of(scope.get("endpoint")) if template != "unmatched" else "none"
            method = str(scope.get("method", ""))
            recorder = metrics.recorder()
            recorder.inc("raysight_http_requests_total", route=template, dialect=dialect, method=method,
                         status=str(status))
            recorder.observe("raysight_http_request_duration_seconds", time.perf_counter() - start,
                             route=template, dialect=dialect, method=method)
