"""Errors answered by a middleware, in the envelope of the API the request was meant for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from raysight.api.envelopes import native_error
from raysight.context import Platform
from raysight.errors import RaysightError


def platform_of(scope: Scope) -> Platform | None:
    """The Platform attached to the app (None while the ingress is still starting)."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "platform", None) if state is not None else None


def leaf_routes(routes: list[Any]) -> Iterator[Any]:
    """Routes of a router with those of the routers it includes (FastAPI keeps an included router as
    one entry; the dialects include theirs without a prefix)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from leaf_routes(included.routes)
        else:
            yield route


def dialect_renderer(path: str) -> Callable[[Request, Exception], Response] | None:
    """The error renderer of the dialect that owns `path` (under /compat/<name>/ or one of its root
    routes), None for the native API."""
    from raysight.api import compat

    for router in compat.root_routers():
        for route in leaf_routes(router.routes):
            render = getattr(route, "render_error", None)
            if render is not None and route.path_regex.match(path):
                return render
    for name, router in compat.routers():
        prefix = f"/compat/{name}"
        mounted = path.startswith(prefix + "/")
        sub = path[len(prefix):] if mounted else path
        renders = [(r, getattr(r, "render_error", None)) for r in leaf_routes(router.routes)]
        for route, render in renders:
            if render is not None and route.path_regex.match(sub):
                return render
        if mounted:
            return next((render for _, render in renders if render is not None), None)
    return None


async def error_response(scope: Scope, exc: RaysightError) -> Response:
    """`exc` rendered as the owning route's dialect renders errors (native {"detail"} otherwise)."""
    request = Request(scope)
    render = dialect_renderer(scope.get("path", ""))
    if render is not None:
        return render(request, exc)
    return await native_error(request, exc)


async def send_error(scope: Scope, receive: Receive, send: Send, exc: RaysightError,
                     headers: dict[str, str] | None = None) -> None:
    response = await error_response(scope, exc)
    response.headers.update(headers or {})
    await response(scope, receive, send)
