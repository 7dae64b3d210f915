"""Error envelopes. Native errors are FastAPI's {"detail": ...}; each dialect renders its own
envelope through `dialect_route_class`, the one place where that dialect maps errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.routing import compile_path

try:  # FastAPI 0.16x keeps an included router as such: this gives each route with its full path
    from fastapi.routing import iter_route_contexts
except ImportError:  # older FastAPI copies included routes into the app's, full paths and all
    iter_route_contexts = iter  # type: ignore[assignment]

from raysight.errors import (
    Conflict,
    Invalid,
    NotFound,
    RaysightError,
    Timeout,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unprocessable,
)

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[Request, Exception], Response]
Code = TypeVar("Code")


@dataclass(frozen=True)
class ErrorCodes(Generic[Code]):
    """A dialect's table of error codes, and the one mapping of an error onto it: a bad body or
    parameter is `invalid`, a domain error goes by its class, an HTTP error (unknown path, wrong method,
    too large) by its status, anything else is `internal`."""

    invalid: Code
    not_found: Code
    method: Code
    conflict: Code
    too_large: Code
    unavailable: Code
    timeout: Code
    unauthorized: Code
    internal: Code

    def of(self, exc: Exception) -> Code:
        if isinstance(exc, (RequestValidationError, ValidationError)):
            return self.invalid
        if isinstance(exc, RaysightError):
            by_class: list[tuple[type[RaysightError], Code]] = [
                (NotFound, self.not_found), (Conflict, self.conflict), (TooLarge, self.too_large),
                (Unavailable, self.unavailable), (Timeout, self.timeout), (Unauthorized, self.unauthorized),
                (Invalid, self.invalid), (Unprocessable, self.invalid)]
            return next((code for cls, code in by_class if isinstance(exc, cls)), self.internal)
        if isinstance(exc, HTTPException):
            by_status = {401: self.unauthorized, 404: self.not_found, 405: self.method, 413: self.too_large}
            return by_status.get(exc.status_code, self.invalid)
        return self.internal


_LOCATIONS = ("body", "query", "path", "form", "header", "cookie")


def validation_message(exc: RequestValidationError | ValidationError) -> str:
    """A short human sentence from pydantic's error list: 'conf: Input should be less than...'.
    FastAPI's error locations start with where the value was (body, query, ...): that part is left
    out; a model validated in a route (Model.model_validate) names its fields alone, a field called
    `path` or `body` included."""
    located = isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if located and loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        where = ".".join(str(p) for p in loc)
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


async def native_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RaysightError):
        retry = getattr(exc, "retry_after_s", None)  # errors.Busy: back-pressure
        headers = {"Retry-After": str(retry)} if retry else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def allowed_methods(scope: Any, own: set[str]) -> set[str]:
    """Every method some route of the app takes at the request's path (`own`: the methods of the route that
    answers; several routes share a path, e.g. PaddleX's GET, POST and DELETE /model at the root). FastAPI
    keeps included routers as such: `iter_route_contexts` gives each route with its full path."""
    methods = set(own)
    for route in iter_route_contexts(getattr(scope.get("router"), "routes", [])):
        route_methods, path = getattr(route, "methods", None), getattr(route, "path", None)
        if route_methods and path and compile_path(path)[0].match(scope["path"]):
            methods |= route_methods
    return methods


def dialect_route_class(render: ErrorRenderer, *, wrong_method_in_envelope: bool = False) -> type[APIRoute]:
    """An APIRoute whose handler turns every error (domain, validation, HTTP, unexpected) into
    `render(request, exc)`, so a dialect's clients only ever see that dialect's envelope.

    `wrong_method_in_envelope`: a request with a method the route does not take is answered by
    `render(request, HTTPException(405))` with an Allow header too (Starlette answers that before the
    route's handler runs, so the handler alone would not see it)."""

    class DialectRoute(APIRoute):
        # middlewares (body limit, cross-site checks) answer this route's errors through it too
        render_error = staticmethod(render)

        async def handle(self, scope: Any, receive: Any, send: Any) -> None:
            if wrong_method_in_envelope and self.methods and scope["method"] not in self.methods:
                response = render(Request(scope, receive), HTTPException(status_code=405))
                response.headers["Allow"] = ", ".join(sorted(allowed_methods(scope, self.methods)))
                await response(scope, receive, send)
                return
            await super().handle(scope, receive, send)

        def get_route_handler(self) -> Callable:  # type: ignore[type-arg]
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except (RaysightError, RequestValidationError, ValidationError, HTTPException) as exc:
                    return render(request, exc)
                except Exception as exc:  # never a traceback to a client
                    log.exception("unhandled error in %s", request.url.path, exc_info=exc)
                    return render(request, exc)

            return route

    return DialectRoute


def http_status_of(exc: Exception) -> int:
    """The HTTP status an error would have natively (dialects may still answer 200)."""
    if isinstance(exc, RaysightError):
        return exc.status
    if isinstance(exc, RequestValidationError):
        return 422
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


def wrong_method_message(request: Request) -> str:
    """What every dialect says of a method a path does not take (HTTP 405 natively)."""
    return f"{request.method} is not allowed on {request.url.path}"


def message_of(exc: Exception) -> str:
    if isinstance(exc, RaysightError):
        return exc.message
    if isinstance(exc, RequestValidationError | ValidationError):
        return validation_message(exc)
    if isinstance(exc, HTTPException):
        return str(exc.detail)
    return "internal server error"


__all__ = ["ErrorCodes", "TooLarge", "dialect_route_class", "request_arguments", "http_status_of", "message_of",
           "native_error"]


async def request_arguments(request: Request, *, query: dict[str, Any] | None = None,
                            forms: bool = True) -> dict[str, Any]:
    """A dialect request's arguments: the query string (`query`: as the dialect already read it) merged
    with form fields (when `forms`) or a JSON object body; the body wins. Dialect clients send them
    either way, on GET and DELETE as well as POST."""
    found: dict[str, Any] = dict(request.query_params) if query is None else dict(query)
    ctype = request.headers.get("content-type", "")
    if forms and ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        found.update({k: v for k, v in form.items() if isinstance(v, str)})
        return found
    raw = await request.body()
    if raw.strip():
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Invalid("the body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise Invalid("the body must be a JSON object")
        found.update(data)
    return found
