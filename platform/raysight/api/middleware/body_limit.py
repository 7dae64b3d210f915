"""One limit on request bodies, counted as the bytes arrive (chunked bodies included).

Archive routes (dataset and model uploads, videos, image batches, filerec packages) may send RAYSIGHT_MAX_UPLOAD_MB;
every other route RAYSIGHT_MAX_IMAGE_MB (one image, or a JSON body). A declared Content-Length over
the limit is refused before any byte is read; otherwise the moment the count crosses the limit the
client gets 413 in the envelope of the route's API and the route is abandoned (what it was reading
is not used, whatever it answers is dropped).
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raysight.api.middleware.errors import platform_of, send_error
from raysight.errors import TooLarge
from raysight.settings import Settings

# multipart framing (boundaries, part headers, small form fields) around the file itself
FORM_OVERHEAD = 64 * 1024
ARCHIVE_ROUTES = re.compile(
    r"^(/compat/[^/]+)?/(datasets/upload|models/upload|infer/batch/run|infer/video/[^/]+(/stream)?"
    r"|upload_package|training_model/upload_model|training_model/upload_datasets)/?$"  # filerec
)


class BodyTooLarge(Exception):
    """Raised into the route from `receive` once the limit is crossed (the 413 is already sent)."""


def body_limit(path: str, settings: Settings) -> tuple[int, str]:
    """(bytes allowed, what the limit is called) for a request to `path`."""
    if ARCHIVE_ROUTES.match(path):
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
        limit, named = body_limit(scope.get("path", ""), platform.settings)
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
