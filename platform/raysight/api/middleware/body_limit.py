"""One limit on request bodies, counted as the bytes arrive (chunked bodies included).

Archive routes (dataset and model uploads, videos, image batches, filerec packages) may send RAYSIGHT_MAX_UPLOAD_MB;
every other route RAYSIGHT_MAX_IMAGE_MB (one image, or a JSON body). A route opts in where it is declared,
with the `@archive_body` marker under its `@router.post(...)`; create_app collects the marked routes'
paths (`archive_paths`, under every prefix the router is mounted at) before any request. A declared Content-Length over
the limit is refused before any byte is read; otherwise the moment the count crosses the limit the
client gets 413 in the envelope of the route's API and the route is abandoned (what it was reading
is not used, whatever it answers is dropped).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raysight.api.middleware.errors import leaf_routes, platform_of, send_error
from raysight.errors import TooLarge
from raysight.settings import Settings

# multipart framing (boundaries, part headers, small form fields) around the file itself
FORM_OVERHEAD = 64 * 1024
ARCHIVE_MARK = "raysight_archive_body"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def archive_body(endpoint: Endpoint) -> Endpoint:
    """Mark a route as an archive route (its body may reach RAYSIGHT_MAX_UPLOAD_MB). Goes under the
    route decorator::

        @router.post("/datasets/upload")
        @archive_body
        async def upload(...): ...
    """
    setattr(endpoint, ARCHIVE_MARK, True)
    return endpoint


def archive_paths(mounted: Iterable[tuple[str, APIRouter]]) -> list[re.Pattern[str]]:
    """The path patterns of the marked routes of `mounted` ((prefix, router) as the app includes them);
    a trailing slash matches too."""
    patterns = []
    for prefix, router in mounted:
        for route in leaf_routes(router.routes):
            if getattr(getattr(route, "endpoint", None), ARCHIVE_MARK, False):
                regex, _, _ = compile_path(prefix + route.path)
                patterns.append(re.compile(regex.pattern.removesuffix("$") + "/?$"))
    return patterns


class BodyTooLarge(Exception):
    """Raised into the route from `receive` once the limit is crossed (the 413 is already sent)."""


def body_limit(path: str, settings: Settings, archives: Iterable[re.Pattern[str]]) -> tuple[int, str]:
    """(bytes allowed, what the limit is called) for a request to `path` (`archives`: archive_paths)."""
    if any(pattern.match(path) for pattern in archives):
        return settings.max_upload_bytes + FORM_OVERHEAD, f"{settings.max_upload_mb} MB (RAYSIGHT_MAX_UPLOAD_MB)"
    return settings.max_image_bytes + FORM_OVERHEAD, f"{settings.max_image_mb} MB (RAYSIGHT_MAX_IMAGE_MB)"


class BodyLimitMiddleware:
    """413 the moment a request body crosses its limit (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        platform = platform_of(scope)
        if scope["type"] != "http" or platform is None:
            await self.app(scope, receive, send)
            return
        archives = getattr(scope["app"].state, "archive_paths", ())
        limit, named = body_limit(scope.get("path", ""), platform.settings, archives)
        error = TooLarge(f"request body exceeds the limit of {named}")
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await send_error(scope, receive, send, error, {"connection": "close"})
            return
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    refused = True
                    if not started:
                        await send_error(scope, receive, send, error, {"connection": "close"})
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 went out: whatever the route answers after it is dropped
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not refused:
                raise
